// Benchmarks that need minutes, not tests. `./scripts/bench.sh` builds the solution and runs `all`.
//   all [--data DIR] [--pairs N] [--memory-epochs N] [--long-epochs N] [--json FILE] [--fast-models FLOAT32.zip INT8.zip]
//                                                                                      the side-by-side table (see SideBySide)
//   fast FLOAT32.zip INT8.zip [--data DIR] [--pairs N]                                 its fast-model serving rows alone (see FastServing)
//   long [--data DIR] [--long-epochs N] [--json FILE]                                  its long-run row alone (see LongRun)
//   step [IMAGES] | predict MODEL DATA [LIMIT] | latency MODEL DATA [COUNT] | memory [STEPS]   single measurements
//   fast-step [PRECISION] [STEPS] [RECIPE] [--profile [--channels-last]] [--default-heap]
//                                                                                      a fast recipe's step (see FastStepBenchmark)
//   fast-peer [PRECISION] [STEPS] [--pairs N]                                          it against PyTorch 2.x's, alternated (see FastPeerBenchmark)
//   input-gradient [ROUNDS]                                                            its pass with either ConvolutionInputGradient, alternated (see InputGradientBenchmark)
//   http MODEL DATA [CLIENTS] [REQUESTS] [SECONDS]                                    cifar serve under load (see HttpBenchmark)
using Cifar.Bench;

try
{
    string command = args.Length > 0 ? args[0] : "all";
    int Int(int index, int fallback) => args.Length > index ? int.Parse(args[index]) : fallback;
    return command switch
    {
        "all" => SideBySide.Run(ParseAll(args.Skip(1).ToArray())),
        "fast" when args.Length >= 3 => SideBySide.Run(ParseAll([.. args.Skip(3), "--fast-models", args[1], args[2]]) with { MemoryEpochs = 0, LongEpochs = 0, OnlyFast = true }),
        "long" => SideBySide.Run(ParseAll(args.Skip(1).ToArray()) with { Pairs = 0 } is { LongEpochs: > 0 } longOnly
            ? longOnly : throw new ArgumentException("long needs --long-epochs of 2 or more")),
        "step" => StepBenchmark.Run(Int(1, SideBySideOptions.TrainImages)),
        "predict" when args.Length >= 3 => PredictionBenchmarks.Batch(args[1], args[2], Int(3, 0)),
        "latency" when args.Length >= 3 => PredictionBenchmarks.Latency(args[1], args[2], Int(3, 2000)),
        "memory" => MemoryBenchmark.Run(Int(1, 1000)),
        "fast-step" => FastStepBenchmark.Run(FastStepOptions.Parse(args[1..])),
        "fast-peer" => FastPeerBenchmark.Run(FindRepoRoot(), args[1..]),
        "input-gradient" => InputGradientBenchmark.Run(Int(1, 5)),
        "http" when args.Length >= 3 => HttpBenchmark.Run(SideBySide.HostDll(FindRepoRoot()), args[1], args[2], Int(3, 8), Int(4, 4000), Int(5, 120)),
        _ => Usage(),
    };
}
catch (Exception e) when (e is FormatException or ArgumentException or IOException or System.Text.Json.JsonException or InvalidOperationException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

static int Usage()
{
    Console.Error.WriteLine("usage: Cifar.Bench [all [--data DIR] [--pairs N] [--memory-epochs N] [--long-epochs N] [--json FILE] [--fast-models FLOAT32.zip INT8.zip] | long [--data DIR] [--long-epochs N] [--json FILE] | fast FLOAT32.zip INT8.zip [--data DIR] [--pairs N] | step [IMAGES] | fast-step [PRECISION] [STEPS] [RECIPE] [--profile [--channels-last]] [--default-heap] | fast-peer [PRECISION] [STEPS] [--pairs N] | input-gradient [ROUNDS] | predict MODEL DATA [LIMIT] | latency MODEL DATA [COUNT] | memory [STEPS] | http MODEL DATA [CLIENTS] [REQUESTS] [SECONDS]]");
    return 2;
}

static SideBySideOptions ParseAll(string[] options)
{
    string repo = FindRepoRoot();
    string? data = Environment.GetEnvironmentVariable("CIFAR10_DATA");
    int pairs = 5, memoryEpochs = 2, longEpochs = 5;
    string? json = null;
    (string, string)? fastModels = null;
    for (int i = 0; i < options.Length; i++)
    {
        string Next() => i + 1 < options.Length ? options[++i] : throw new ArgumentException($"{options[i]} needs a value");
        switch (options[i])
        {
            case "--data": data = Next(); break;
            case "--pairs": pairs = int.Parse(Next()); break;
            case "--memory-epochs": memoryEpochs = int.Parse(Next()); break;
            case "--long-epochs": longEpochs = int.Parse(Next()); break;
            case "--json": json = Path.GetFullPath(Next()); break;
            case "--fast-models": fastModels = (RequireFile(Next()), RequireFile(Next())); break;
            default: throw new ArgumentException($"unknown option {options[i]}");
        }
    }
    data ??= Path.Combine(repo, "..", "shared", "datasets", "cifar10-jpeg");
    if (!Directory.Exists(Path.Combine(data, "train")))
        throw new DirectoryNotFoundException($"{data}: no CIFAR-10 JPEG tree (pass --data or set CIFAR10_DATA)");
    if (pairs < 1) throw new ArgumentException("--pairs must be 1 or more");
    if (longEpochs is < 0 or 1) throw new ArgumentException("--long-epochs must be 0 (no long run) or 2 or more");
    return new SideBySideOptions(repo, Path.GetFullPath(data), pairs, memoryEpochs, longEpochs, json, fastModels);
}

static string RequireFile(string path) => File.Exists(path) ? Path.GetFullPath(path) : throw new FileNotFoundException($"{path}: no such model zip");

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Cifar.sln"))) return dir.FullName;
    throw new DirectoryNotFoundException("Cifar.sln not found above the benchmark's folder");
}
