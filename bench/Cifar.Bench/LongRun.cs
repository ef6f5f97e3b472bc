using System.Globalization;
using System.Text.Json;

namespace Cifar.Bench;

/// <summary>One long run's training seconds per epoch.</summary>
internal sealed record EpochTimes(string Who, IReadOnlyList<double> TrainSeconds)
{
    /// <summary>Slowest epoch over fastest: 1.0 is flat; a run slowed by denormals shows well above 1 (docs/performance.md).</summary>
    public double SlowestOverFastest => TrainSeconds.Max() / TrainSeconds.Min();

    public override string ToString() =>
        $"{string.Join(" / ", TrainSeconds.Select(s => s.ToString("F1", CultureInfo.InvariantCulture)))} s, slowest/fastest {SlowestOverFastest:F2}×";
}

/// <summary>
/// The long-run row: the tutorial's recipe (seed.json) on 16,000 training images for several epochs, so that
/// thousands of steps run (the denormal cliff starts near step 1,500): ours, the tutorial's PyTorch code as
/// written (no flushing), and ours with flushing off, one after the other in that order. Each epoch's training
/// seconds (validation excluded).
/// </summary>
internal static class LongRun
{
    public const int TrainImages = 16_000, ValidationImages = 2_000;

    public static (EpochTimes Ours, EpochTimes Theirs, EpochTimes OursUnflushed, string TorchVersion) Measure(SideBySideOptions o, string work)
    {
        var ours = Ours(o, work, "long-ours", flush: true);
        Progress($"long run, ours: {ours}");
        var theirsJson = Path.Combine(work, "long-theirs.json");
        SideBySide.Checked("theirs: tutorial.py, long run", ProcessRun.Measure(SideBySide.Python, new[]
        {
            Path.Combine(o.RepoRoot, "bench/pytorch/tutorial.py"), "--data", o.DataRoot, "--epochs", $"{o.LongEpochs}",
            "--train-limit", $"{TrainImages}", "--val-limit", $"{ValidationImages}", "--device", "cpu", "--json", theirsJson,
        }));
        var theirsMetrics = SideBySide.ReadJson(theirsJson);
        var theirs = new EpochTimes("PyTorch", TrainSeconds(theirsMetrics));
        Progress($"long run, PyTorch: {theirs}");
        var unflushed = Ours(o, work, "long-ours-unflushed", flush: false);
        Progress($"long run, ours without flushing: {unflushed}");
        string torch = theirsMetrics.GetProperty("torch").GetString() ?? "?";
        return (ours, theirs, unflushed, torch);
    }

    public static string Row(EpochTimes ours, EpochTimes theirs, EpochTimes unflushed, int epochs) =>
        SideBySide.Row($"6. long run: {TrainImages:N0} images × {epochs} epochs, training seconds per epoch", $"{ours}",
            $"PyTorch as written {theirs}; ours with FlushDenormals=false {unflushed}", $"{ours.SlowestOverFastest:F2}×",
            "slowest ≤ 1.2× fastest", ours.SlowestOverFastest <= 1.2 ? "met" : "NOT met");

    private static EpochTimes Ours(SideBySideOptions o, string work, string name, bool flush)
    {
        string output = Path.Combine(work, name);
        SideBySide.Checked($"ours: cifar train, long run ({name})", ProcessRun.Measure("dotnet", new[]
        {
            SideBySide.HostDll(o), "train", "--config", Path.Combine(o.RepoRoot, "configs/seed.json"), "--output", output,
            $"--Data:Root={o.DataRoot}", $"--Data:TrainLimit={TrainImages}", $"--Data:ValidationLimit={ValidationImages}",
            $"--Training:Epochs={o.LongEpochs}", "--Training:Device=cpu", $"--Training:FlushDenormals={(flush ? "true" : "false")}",
        }));
        return new EpochTimes(flush ? "ours" : "ours, not flushed", TrainSeconds(SideBySide.ReadJson(Path.Combine(output, "metrics.json"))));
    }

    /// <summary>Both metrics.json files list <c>epochs[i].train_seconds</c>.</summary>
    private static double[] TrainSeconds(JsonElement metrics) =>
        metrics.GetProperty("epochs").EnumerateArray().Select(e => e.GetProperty("train_seconds").GetDouble()).ToArray();

    private static void Progress(string line) => Console.Error.WriteLine(line);
}
