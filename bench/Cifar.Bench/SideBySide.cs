using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Cifar.Trainer.Native;

namespace Cifar.Bench;

/// <summary>What <c>all</c> measures and how.</summary>
/// <param name="Pairs">Alternated pairs of the short runs (rows 1–5); 0 for none.</param>
/// <param name="LongEpochs">Epochs of the long run (row 6, see <see cref="LongRun"/>); 0 for none.</param>
/// <param name="OnlyFast">Rows 8 and 9 alone (<c>fast</c>), with <see cref="Pairs"/> pairs.</param>
/// <param name="FastModels">The fast recipe's float32 zip and its int8 copy (<c>cifar quantize</c>), for rows 8 and 9; null to skip them.</param>
internal sealed record SideBySideOptions(string RepoRoot, string DataRoot, int Pairs, int MemoryEpochs, int LongEpochs, string? JsonPath,
    (string Float32, string Int8)? FastModels = null, bool OnlyFast = false)
{
    public const int TrainImages = 5000, ValidationImages = 1000;
}

/// <summary>
/// <c>all</c>: the table in docs/performance.md. Every measurement is a fresh process, ours and the tutorial's
/// PyTorch code alternating (ours, theirs, ours, theirs…) so drift of the machine hits both; medians.
/// </summary>
internal static class SideBySide
{
    /// <summary>The Python that runs the PyTorch peer.</summary>
    public static readonly string Python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    /// <summary>The app, built in Release.</summary>
    public static string HostDll(SideBySideOptions o) => HostDll(o.RepoRoot);

    /// <summary>The app, built in Release, in the repository at <paramref name="repoRoot"/>.</summary>
    public static string HostDll(string repoRoot)
    {
        string hostDll = Path.Combine(repoRoot, "src/Cifar.Host/bin/Release/net10.0/cifar.dll");
        return File.Exists(hostDll) ? hostDll : throw new FileNotFoundException($"{hostDll}: build first (./scripts/bench.sh does)");
    }

    /// <summary>Concurrent clients of the HTTP row.</summary>
    private const int HttpClients = 8;

    public static int Run(SideBySideOptions o)
    {
        string hostDll = HostDll(o);
        string benchDll = typeof(SideBySide).Assembly.Location;
        string tutorial = Path.Combine(o.RepoRoot, "bench/pytorch/tutorial.py");
        var work = Directory.CreateTempSubdirectory("cifar-bench-");
        try
        {
            var results = new Results();
            int pairs = o.OnlyFast ? 0 : o.Pairs;
            string torchVersion = "?";
            for (int i = 1; i <= pairs; i++)
            {
                var ours = Checked("ours: cifar train", ProcessRun.Measure("dotnet", new[]
                {
                    hostDll, "train", "--config", Path.Combine(o.RepoRoot, "configs/seed-augmented.json"), "--output", Path.Combine(work.FullName, $"ours-{i}"),
                    $"--Data:Root={o.DataRoot}", $"--Data:TrainLimit={SideBySideOptions.TrainImages}",
                    $"--Data:ValidationLimit={SideBySideOptions.ValidationImages}", "--Training:Epochs=1", "--Training:Device=cpu",
                }));
                var oursMetrics = ReadJson(Path.Combine(work.FullName, $"ours-{i}", "metrics.json"));
                double oursTrainSeconds = oursMetrics.GetProperty("epochs")[0].GetProperty("train_seconds").GetDouble();
                var theirsJson = Path.Combine(work.FullName, $"theirs-{i}.json");
                var theirs = Checked("theirs: tutorial.py", ProcessRun.Measure(Python, new[]
                {
                    tutorial, "--data", o.DataRoot, "--epochs", "1", "--train-limit", $"{SideBySideOptions.TrainImages}",
                    "--val-limit", $"{SideBySideOptions.ValidationImages}", "--augment", "--device", "cpu", "--json", theirsJson,
                }));
                var theirsMetrics = ReadJson(theirsJson);
                torchVersion = theirsMetrics.GetProperty("torch").GetString() ?? "?";
                var step = Checked("bare step", ProcessRun.Measure("dotnet", new[] { benchDll, "step", $"{SideBySideOptions.TrainImages}" }));
                results.OursWall.Add(ours.WallSeconds);
                results.TheirsWall.Add(theirs.WallSeconds);
                results.OursTrainRate.Add(SideBySideOptions.TrainImages / oursTrainSeconds);
                results.TheirsTrainRate.Add(SideBySideOptions.TrainImages / theirsMetrics.GetProperty("epochs")[0].GetProperty("train_seconds").GetDouble());
                results.StepRate.Add(step.Value("images/s"));
                results.OursRss.Add(ours.PeakRssMiB);
                results.TheirsRss.Add(theirsMetrics.GetProperty("peak_rss_mib").GetDouble());
                Progress($"pair {i}: ours {ours.WallSeconds:F2} s, theirs {theirs.WallSeconds:F2} s; train images/s ours {results.OursTrainRate[^1]:F0}, bare step {results.StepRate[^1]:F0}");
            }

            string model = Path.Combine(work.FullName, "ours-1", "model.zip");
            for (int i = 1; i <= pairs; i++)
            {
                var ours = Checked("ours: predict", ProcessRun.Measure("dotnet", new[] { benchDll, "predict", model, o.DataRoot, "0" }));
                var theirsJson = Path.Combine(work.FullName, $"theirs-eval-{i}.json");
                Checked("theirs: tutorial.py --eval-only", ProcessRun.Measure(Python, new[] { tutorial, "--data", o.DataRoot, "--eval-only", "--device", "cpu", "--json", theirsJson }));
                results.OursPredictRate.Add(ours.Value("images/s"));
                results.TheirsPredictRate.Add(ReadJson(theirsJson).GetProperty("images_per_second").GetDouble());
                var latency = Checked("ours: latency", ProcessRun.Measure("dotnet", new[] { benchDll, "latency", model, o.DataRoot, "2000" }));
                results.LatencyP50.Add(latency.Value("p50"));
                results.LatencyP99.Add(latency.Value("p99"));
                Progress($"prediction {i}: ours {results.OursPredictRate[^1]:F0} images/s, theirs {results.TheirsPredictRate[^1]:F0}; latency p50 {results.LatencyP50[^1]:F3} ms, p99 {results.LatencyP99[^1]:F3} ms");
                var http = Checked("ours: http", ProcessRun.Measure("dotnet", new[] { benchDll, "http", model, o.DataRoot, $"{HttpClients}", "4000", "120" }));
                results.HttpRate.Add(http.Value("requests/s"));
                results.HttpP50.Add(http.Value("p50"));
                results.HttpP99.Add(http.Value("p99"));
                results.HttpErrors.Add(http.Value("errors"));
                Progress($"http {i}: {results.HttpRate[^1]:F0} requests/s, p50 {results.HttpP50[^1]:F2} ms, p99 {results.HttpP99[^1]:F2} ms, {results.HttpErrors[^1]} errors");
            }

            var fast = o.FastModels is { } models ? FastServing.Measure(benchDll, models.Float32, models.Int8, o.DataRoot, Math.Max(1, o.Pairs)) : null;

            ProcessRun? full = null;
            if (o.MemoryEpochs > 0 && pairs > 0)
            {
                full = Checked("ours: full run", ProcessRun.Measure("dotnet", new[]
                {
                    hostDll, "train", "--config", Path.Combine(o.RepoRoot, "configs/seed.json"), "--output", Path.Combine(work.FullName, "full"),
                    $"--Data:Root={o.DataRoot}", $"--Training:Epochs={o.MemoryEpochs}", "--Training:Device=cpu",
                }));
                Progress($"full run: peak {full.PeakRssMiB:F0} MiB, after each epoch {string.Join(", ", full.RssAtEpochMiB.Select(r => r.ToString("F0", CultureInfo.InvariantCulture)))} MiB");
            }

            var longRun = o.LongEpochs > 0 ? LongRun.Measure(o, work.FullName) : default;
            if (o.LongEpochs > 0 && torchVersion == "?") torchVersion = longRun.TorchVersion;
            var table = new StringBuilder(pairs > 0 ? Table(results, full, torchVersion, pairs) : Machine(torchVersion) + "\n\n" + TableHeader);
            if (o.LongEpochs > 0) table.AppendLine(LongRun.Row(longRun.Ours, longRun.Theirs, longRun.OursUnflushed, o.LongEpochs));
            if (fast is not null) table.Append(fast.Rows());
            Console.WriteLine(table);
            if (o.JsonPath is { } json)
                File.WriteAllText(json, JsonSerializer.Serialize(new { results, full, fast, longRun = o.LongEpochs > 0 ? new[] { longRun.Ours, longRun.Theirs, longRun.OursUnflushed } : null, machine = Machine(torchVersion) },
                    new JsonSerializerOptions { WriteIndented = true, IncludeFields = true }));
            return 0;
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>Every list holds one value per alternated run.</summary>
    private sealed class Results
    {
        public readonly List<double> OursWall = new(), TheirsWall = new(), OursTrainRate = new(), TheirsTrainRate = new(),
            StepRate = new(), OursRss = new(), TheirsRss = new(), OursPredictRate = new(), TheirsPredictRate = new(),
            LatencyP50 = new(), LatencyP99 = new(), HttpRate = new(), HttpP50 = new(), HttpP99 = new(), HttpErrors = new();
    }

    private static string Table(Results r, ProcessRun? full, string torchVersion, int pairs)
    {
        double M(List<double> v) => Median(v);
        string Verdict(bool met) => met ? "met" : "NOT met";
        var s = new StringBuilder();
        s.AppendLine(Machine(torchVersion));
        s.AppendLine($"medians of {pairs} alternated runs (ratios: medians of the pairs' ratios); {SideBySideOptions.TrainImages:N0} train / {SideBySideOptions.ValidationImages:N0} validation images, 1 epoch, batch 32, Adam, tutorial augmentation");
        s.AppendLine();
        s.Append(TableHeader);
        // Ratios are medians of each pair's ratio (the two runs of a pair are neighbours in time, so slow drift of
        // the machine cancels); the values beside them are plain medians.
        double e2e = PairedMedian(r.TheirsWall, r.OursWall);
        s.AppendLine(Row("1. end to end, whole process", $"{M(r.OursWall):F2} s", $"PyTorch {M(r.TheirsWall):F2} s", $"{e2e:F2}× ({Range(r.TheirsWall, r.OursWall)})", "≥ 1.15×", Verdict(e2e >= 1.15)));
        double overhead = PairedMedian(r.OursTrainRate, r.StepRate);
        s.AppendLine(Row("2. training images/s vs bare TorchSharp step", $"{M(r.OursTrainRate):F0}/s", $"bare step {M(r.StepRate):F0}/s (PyTorch run {M(r.TheirsTrainRate):F0}/s)", $"{overhead:F3} ({Range(r.OursTrainRate, r.StepRate)})", "≥ 0.95", Verdict(overhead >= 0.95)));
        double predict = PairedMedian(r.OursPredictRate, r.TheirsPredictRate);
        s.AppendLine(Row("3. batch prediction, model.zip (ONNX Runtime)", $"{M(r.OursPredictRate):F0}/s", $"PyTorch eval {M(r.TheirsPredictRate):F0}/s", $"{predict:F2}×", "≥ 1.5×", Verdict(predict >= 1.5)));
        s.AppendLine(Row("4. PredictionEngine latency, path → label", $"p50 {M(r.LatencyP50):F3} ms, p99 {M(r.LatencyP99):F3} ms", "", "", "p50 ≤ 1 ms", Verdict(M(r.LatencyP50) <= 1)));
        if (full is not null)
        {
            bool flat = full.RssAtEpochMiB.Count < 2 || full.RssAtEpochMiB.Max() - full.RssAtEpochMiB.Min() <= 0.05 * full.RssAtEpochMiB.Max();
            s.AppendLine(Row($"5. peak RSS, 50,000 images, {full.RssAtEpochMiB.Count} epochs", $"{full.PeakRssMiB:F0} MiB; after each epoch {string.Join(" / ", full.RssAtEpochMiB.Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))} MiB",
                "", "", "≤ 1,536 MiB, flat", Verdict(full.PeakRssMiB <= 1536 && flat)));
        }
        s.AppendLine(Row("   (peak RSS of the 5,000-image run)", $"{M(r.OursRss):F0} MiB", $"PyTorch {M(r.TheirsRss):F0} MiB (main process; 2 loader workers extra)", "", "", ""));
        s.AppendLine(Row($"7. HTTP: cifar serve, {HttpClients} clients on loopback, one JPEG per POST /api/predict", $"{M(r.HttpRate):F0} requests/s, p50 {M(r.HttpP50):F2} ms, p99 {M(r.HttpP99):F2} ms, {r.HttpErrors.Sum():F0} errors", "", "",
            "p99 ≤ 20 ms, no error", Verdict(M(r.HttpP99) <= 20 && r.HttpErrors.Sum() == 0)));
        return s.ToString();
    }

    private const string TableHeader = "| target | ours | reference | ratio | goal | |\n|---|---|---|---|---|---|\n";

    private static double PairedMedian(List<double> numerators, List<double> denominators) =>
        Median(numerators.Zip(denominators, (n, d) => n / d).ToList());

    private static string Range(List<double> numerators, List<double> denominators)
    {
        var ratios = numerators.Zip(denominators, (n, d) => n / d).ToArray();
        return $"pairs {ratios.Min():F2}–{ratios.Max():F2}";
    }

    public static string Row(params string[] cells) => "| " + string.Join(" | ", cells) + " |";

    private static string Machine(string torchVersion)
    {
        _ = TorchSharp.torch.CPU; // loads libtorch, to report the one the app carries
        string cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?";
        double memoryGiB = double.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal", StringComparison.Ordinal))
            .Split(':')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / (1024 * 1024);
        string os = File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?.Split('=')[1].Trim('"') ?? "?"
            : RuntimeInformation.OSDescription;
        return $"machine: {cpu}, {Environment.ProcessorCount} cores, {memoryGiB:F1} GiB memory, {os}; {RuntimeInformation.FrameworkDescription}, " +
               $"TorchSharp {Libtorch.TorchSharpVersion} on libtorch {Libtorch.Loaded()?.Version ?? "?"}; PyTorch {torchVersion}";
    }

    public static ProcessRun Checked(string what, ProcessRun run) =>
        run.ExitCode == 0 ? run : throw new InvalidOperationException($"{what} failed (exit {run.ExitCode}):\n{run.Output}");

    public static JsonElement ReadJson(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    public static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static void Progress(string line) => Console.Error.WriteLine(line);
}
