using System.Globalization;
using System.Text.RegularExpressions;

namespace Cifar.Bench;

/// <summary>
/// <c>fast-peer [PRECISION] [STEPS] [--pairs N]</c>: the fast recipe's step, ours against PyTorch 2.x's, alternated.
/// Each round runs, each in a fresh process, <c>Cifar.Bench fast-step PRECISION STEPS</c> and
/// bench/pytorch/fast_step.py with the same arguments in scripts/pytorch-peer.sh's Debian 13 root (PyTorch 2.6), as
/// PyTorch runs by default, with libtorch's huge pages on as ours (<c>PyTorch+THP</c>; left out where the user set
/// <c>THP_MEM_ALLOC_ENABLE</c> for both), and with glibc's heap kept as ours too (<c>+heap</c>: NativeHeap's settings as
/// <c>GLIBC_TUNABLES</c>); each of these pads its convolutions' channels as ours where ours pads them (OneDnnIsa;
/// <c>--pad-channels</c>), under the same oneDNN limit. When AIRBENCH94 names a copy of airbench94.py, also
/// fast_step.py --reference (airbench94's own step, as PyTorch runs by default; it pads nothing, so where ours pads it
/// runs under AVX, where its convolutions are right and its bfloat16 ones slow); odd rounds run them
/// in that order, even ones in reverse, so that a drift of the machine hits all alike. Prints each run's wall and processor
/// time per step, then the medians and the median of the rounds' ratios (peer ÷ ours: above 1, ours is faster), with
/// the processor's model name, family and model numbers, the core count and the load average before and after.
/// </summary>
internal static partial class FastPeerBenchmark
{
    public static int Run(string repoRoot, IReadOnlyList<string> args)
    {
        string precision = "Float32";
        int steps = 3, pairs = 3;
        var positional = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] == "--pairs")
                pairs = i + 1 < args.Count && int.TryParse(args[++i], out int n) && n >= 1 ? n : throw new ArgumentException("--pairs needs a count of 1 or more");
            else positional.Add(args[i]);
        }
        if (positional.Count > 0) precision = FastStepOptions.Parse([positional[0]]).Precision.ToString();
        if (positional.Count > 1) steps = FastStepOptions.Parse([precision, positional[1]]).Steps;
        if (positional.Count > 2) throw new ArgumentException("fast-peer takes [PRECISION] [STEPS] [--pairs N]");
        string benchDll = typeof(FastPeerBenchmark).Assembly.Location;
        string peer = Path.Combine(repoRoot, "scripts", "pytorch-peer.sh");
        string script = Path.Combine(repoRoot, "bench", "pytorch", "fast_step.py");
        bool reference = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AIRBENCH94"));
        var runners = new List<(string Name, string File, string[] Args)> { ("ours", "dotnet", [benchDll, "fast-step", precision, $"{steps}"]) };
        // Ours backs its large buffers with huge pages (HugePages), and keeps freed ones in glibc's heap (NativeHeap, which
        // fast-step opts into as cifar train does); PyTorch does neither unless told. Unless the user chose huge pages for
        // both, the peer runs as it does by default, then with ours's huge pages, then with both of ours's settings.
        const string hugePages = Cifar.Trainer.Native.HugePages.Variable;
        string heap = $"GLIBC_TUNABLES={Cifar.Trainer.Training.NativeHeap.GlibcTunables}";
        // Where ours pads its convolutions' channels so that oneDNN's AVX-512 kernels are right on a processor that describes
        // no caches (OneDnnIsa), the transcribed step pads them the same way (fast_step.py --pad-channels) under the same
        // limit, inherited: unpadded, its 24-channel convolutions would be wrong there. airbench94's own step pads nothing,
        // so it runs under AVX, where its convolutions are right.
        int multiple = Cifar.Trainer.Native.OneDnnIsa.ChannelMultiple;
        string[] padding = multiple > 1 ? ["--pad-channels", $"{multiple}"] : [];
        // Arguments of env: the peer's settings, then its run with the given options.
        string[] PeerRun(string[] settings, params string[] options) => [.. settings, "bash", peer, "run", script, precision, $"{steps}", .. options];
        string[] Peer(params string[] settings) => PeerRun(settings, padding);
        if (Cifar.Trainer.Native.HugePages.SetBeforeLoad)
        {
            runners.Add(("PyTorch", "env", Peer()));
            runners.Add(("PyTorch+heap", "env", Peer(heap)));
        }
        else
        {
            runners.Add(("PyTorch", "env", ["-u", hugePages, .. Peer()]));
            runners.Add(("PyTorch+THP", "env", Peer($"{hugePages}=1")));
            runners.Add(("PyTorch+THP+heap", "env", Peer($"{hugePages}=1", heap)));
        }
        if (reference)
        {
            string[] asItComes = Cifar.Trainer.Native.HugePages.SetBeforeLoad ? [] : ["-u", hugePages];
            string[] isa = multiple > 1 ? [$"{Cifar.Trainer.Native.OneDnnIsa.Variable}=AVX"] : [];
            runners.Add(("airbench94", "env", PeerRun([.. asItComes, .. isa], "--reference")));
        }
        // Both sides compute with one thread per logical processor unless told otherwise (PyTorch counts cores from the caches the
        // processor describes, and finds 1 where it describes none).
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OMP_NUM_THREADS")))
            Environment.SetEnvironmentVariable("OMP_NUM_THREADS", $"{Environment.ProcessorCount}");
        Console.WriteLine(Machine());
        // Set before either side starts: where oneDNN is limited here, PyTorch runs under the same limit.
        if (multiple > 1)
            Console.WriteLine($"both sides: oneDNN under {Cifar.Trainer.Native.OneDnnIsa.Chosen ?? "no limit"}, convolutions padded to multiples of "
                              + $"{multiple} channels{(reference ? "; airbench94's own step under AVX, where its unpadded convolutions are right" : "")}");
        else if (Cifar.Trainer.Native.OneDnnIsa.Limit is { } limit) Console.WriteLine($"both sides: {limit}");
        string loadBefore = LoadAverage();
        var wall = runners.ToDictionary(r => r.Name, _ => new List<double>());
        var processor = runners.ToDictionary(r => r.Name, _ => new List<double>());
        for (int round = 1; round <= pairs; round++)
        {
            var order = round % 2 == 1 ? runners : [.. Enumerable.Reverse(runners)];
            foreach (var (name, file, arguments) in order)
            {
                var run = SideBySide.Checked(name, ProcessRun.Measure(file, arguments));
                var match = StepLine().Match(run.Output);
                if (!match.Success) throw new InvalidOperationException($"{name}: no step line in its output:\n{run.Output}");
                double ms = double.Parse(match.Groups["wall"].Value, CultureInfo.InvariantCulture);
                double cpu = double.Parse(match.Groups["cpu"].Value, CultureInfo.InvariantCulture);
                wall[name].Add(ms);
                processor[name].Add(cpu);
                Console.WriteLine($"round {round}, {name,-16}: {ms,7:F0} ms per step, {cpu,7:F0} ms processor time per step (load {LoadAverage()})");
            }
        }
        Console.WriteLine($"{precision}, batch 1,024, {steps} steps after a warm-up, {pairs} rounds; load average before {loadBefore}, after {LoadAverage()}");
        foreach (var (name, _, _) in runners.Skip(1))
            Console.WriteLine($"  {name} ÷ ours: wall {Ratio(wall[name], wall["ours"])}; processor time {Ratio(processor[name], processor["ours"])}");
        foreach (var (name, _, _) in runners)
            Console.WriteLine($"  {name,-16} median {SideBySide.Median(wall[name]):F0} ms per step, processor time {SideBySide.Median(processor[name]):F0} ms");
        return 0;
    }

    private static string Ratio(List<double> numerators, List<double> denominators)
    {
        var ratios = numerators.Zip(denominators, (n, d) => n / d).ToList();
        return $"{SideBySide.Median(ratios):F2}× (rounds {string.Join(", ", ratios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture)))})";
    }

    /// <summary>The processor as docs/performance.md names it: model name, lscpu's family and model, cores, bfloat16.</summary>
    private static string Machine()
    {
        var fields = File.ReadLines("/proc/cpuinfo").TakeWhile(l => l.Length > 0)
            .Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
            .GroupBy(p => p[0].Trim()).ToDictionary(g => g.Key, g => g.First()[1].Trim());
        string flags = fields.GetValueOrDefault("flags", "");
        bool bf16 = flags.Split(' ').Any(f => f is "avx512_bf16" or "amx_bf16");
        return $"machine: {fields.GetValueOrDefault("model name", "?")}, family {fields.GetValueOrDefault("cpu family", "?")} " +
            $"model {fields.GetValueOrDefault("model", "?")}, {Environment.ProcessorCount} cores, " +
            $"{(flags.Contains("avx512f") ? "AVX-512" : flags.Contains("avx2") ? "AVX2" : "no AVX2")}, {(bf16 ? "native bfloat16" : "no native bfloat16")}";
    }

    private static string LoadAverage() => string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    [GeneratedRegex(@"^\w+: (?<wall>\d+) ms per step, \d+ images/s, (?<cpu>\d+) ms processor time per step", RegexOptions.Multiline)]
    private static partial Regex StepLine();
}
