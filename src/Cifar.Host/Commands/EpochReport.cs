using System.Globalization;
using Cifar.Host.Artifacts;
using Cifar.MLNet;
using Microsoft.Extensions.Logging;

namespace Cifar.Host.Commands;

/// <summary>
/// What a training run says as it goes, through the trainer's callbacks: a progress bar within each epoch, each epoch's
/// line on the console and in the log, metrics.csv/json and the curves rewritten after it, the epochs a resumed run had
/// done, and where a stopped run left off.
/// </summary>
internal sealed class EpochReport
{
    private readonly RunLayout _run;
    private readonly int _epochs;
    private readonly object _metadata;
    private readonly TextWriter _output;
    private readonly ILogger _log;
    private readonly ProgressBar _progress;
    private readonly List<EpochMetrics> _history = [];

    /// <param name="run">The folder the metrics and curves go to.</param>
    /// <param name="epochs">The epochs the run trains in all.</param>
    /// <param name="setup">Where and how it trains (metrics.json records it).</param>
    /// <param name="classes">The class names (metrics.json records them).</param>
    /// <param name="image">The images the model reads (metrics.json records their shape).</param>
    /// <param name="output">The console.</param>
    /// <param name="interactive">Whether the console is a terminal (the progress bar is drawn only there).</param>
    /// <param name="log">The run's log.</param>
    public EpochReport(RunLayout run, int epochs, TrainingSetup setup, IReadOnlyList<string> classes, ImageFormat image,
        TextWriter output, bool interactive, ILogger log)
    {
        _run = run;
        _epochs = epochs;
        _metadata = new
        {
            device = setup.Device, precision = setup.Precision.ToString(), threads = setup.Threads, input_gradient = setup.InputGradient.ToString(),
            classes, image = image.Shape,
        };
        _output = output;
        _log = log;
        _progress = new ProgressBar(output, interactive);
    }

    /// <summary><paramref name="options"/> with its callbacks reporting here.</summary>
    public CifarCnnOptions Reporting(CifarCnnOptions options) => options with
    {
        BatchCompleted = _progress.Report,
        Notice = Note,
        Resumed = Resumed,
        EpochCompleted = EpochCompleted,
    };

    /// <summary>The run stopped by the user: what is kept and how to continue.</summary>
    public void Stopped()
    {
        _progress.Clear();
        _output.WriteLine($"stopped after {_history.Count} of {_epochs} epochs; their metrics and checkpoint are in {_run.Folder} (continue with --resume), no model was saved");
        _log.LogWarning("Stopped by the user after {Epochs} epochs", _history.Count);
    }

    /// <summary>Leaves the console's line free for an error.</summary>
    public void ClearProgress() => _progress.Clear();

    /// <summary>An epoch's line: its training figures, its validation where it was validated, its seconds.</summary>
    public static string EpochLine(EpochMetrics m, int epochs)
    {
        var invariant = CultureInfo.InvariantCulture;
        string validation = m.ValidationAccuracy is { } accuracy
            ? string.Create(invariant, $" | val loss {m.ValidationLoss:F4}, val acc {accuracy:P2}")
            : "";
        return string.Create(invariant, $"Epoch {m.Epoch}/{epochs}: train loss {m.TrainLoss:F4}, train acc {m.TrainAccuracy:P2}{validation} | {m.Seconds:F1}s");
    }

    private void Note(string note)
    {
        _output.WriteLine(note);
        _log.LogInformation("{Note}", note);
    }

    private void Resumed(IReadOnlyList<EpochMetrics> done)
    {
        // From here on the folder describes the continued run: the finished model of the last one goes.
        foreach (var name in RunLayout.FinalFiles) File.Delete(_run.PathOf(name));
        _history.AddRange(done);
        _output.WriteLine($"resuming after epoch {done.Count} from {_run.Checkpoint}");
        foreach (var m in done) _output.WriteLine(EpochLine(m, _epochs));
    }

    private void EpochCompleted(EpochMetrics m)
    {
        _progress.Clear();
        _history.Add(m);
        var line = EpochLine(m, _epochs);
        _output.WriteLine(line);
        _output.Flush();
        _log.LogInformation("{Line}", line);
        AtomicFile.WriteText(_run.MetricsCsv, MetricsFiles.ToCsv(_history));
        AtomicFile.WriteText(_run.MetricsJson, MetricsFiles.ToJson(_history, _metadata));
        AtomicFile.WriteBytes(_run.LossPlot, Plots.Loss(_history));
        AtomicFile.WriteBytes(_run.AccuracyPlot, Plots.Accuracy(_history));
    }
}

/// <summary>A one-line progress bar within an epoch on a terminal; nothing when the output is redirected.</summary>
internal sealed class ProgressBar(TextWriter output, bool interactive)
{
    private long _lastDraw;
    private bool _drawn;

    public void Report(BatchProgress p)
    {
        if (!interactive) return;
        long now = Environment.TickCount64;
        if (p.Batch != p.BatchCount && now - _lastDraw < 200) return;
        _lastDraw = now;
        int filled = (int)(30.0 * p.Batch / p.BatchCount);
        output.Write($"\r  epoch {p.Epoch} [{new string('#', filled)}{new string('.', 30 - filled)}] {p.Batch}/{p.BatchCount} batches");
        _drawn = true;
    }

    public void Clear()
    {
        if (!_drawn) return;
        output.Write("\r" + new string(' ', 79) + "\r");
        _drawn = false;
    }
}
