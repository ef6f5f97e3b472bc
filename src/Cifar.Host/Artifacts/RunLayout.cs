namespace Cifar.Host.Artifacts;

/// <summary>
/// A run folder's files: the one place their names are given. <c>train</c> writes them, <c>serve</c> reads the
/// config beside the model it serves, and the runs page reads the metrics and the plots.
/// </summary>
/// <param name="Folder">The run folder.</param>
internal sealed record RunLayout(string Folder)
{
    public const string ModelFile = "model.zip", MetricsCsvFile = "metrics.csv", MetricsJsonFile = "metrics.json",
        LossPlotFile = "loss.png", AccuracyPlotFile = "accuracy.png", ConfusionPlotFile = "confusion.png",
        ConfusionTextFile = "confusion.txt", EvaluationFile = "evaluation.json", ConfigFile = "config.json", LogFile = "train.log",
        CheckpointFile = "checkpoint.bin";

    /// <summary>The lock a training run holds on its folder (see <see cref="RunFolder"/>); not a file of the run.</summary>
    public const string LockFile = ".cifar-train.lock";

    /// <summary>Every file a run writes.</summary>
    public static readonly IReadOnlyList<string> Files =
        [ModelFile, MetricsCsvFile, MetricsJsonFile, LossPlotFile, AccuracyPlotFile, ConfusionPlotFile, ConfusionTextFile, EvaluationFile, ConfigFile, LogFile, CheckpointFile];

    /// <summary>The files written once the run has finished: the model and its evaluation.</summary>
    public static readonly IReadOnlyList<string> FinalFiles = [ModelFile, ConfusionPlotFile, ConfusionTextFile, EvaluationFile];

    /// <summary>Each plot a run can have, by the kind the runs page names it.</summary>
    public static readonly IReadOnlyList<(string Kind, string File)> Plots =
        [("loss", LossPlotFile), ("accuracy", AccuracyPlotFile), ("confusion", ConfusionPlotFile)];

    /// <summary>The run folder holding <paramref name="modelPath"/>: a served model's config.json is beside it.</summary>
    public static RunLayout OfModel(string modelPath) => new(Path.GetDirectoryName(Path.GetFullPath(modelPath))!);

    /// <summary>The path of the run's file <paramref name="name"/>.</summary>
    public string PathOf(string name) => Path.Combine(Folder, name);

    public string Model => PathOf(ModelFile);
    public string MetricsCsv => PathOf(MetricsCsvFile);
    public string MetricsJson => PathOf(MetricsJsonFile);
    public string LossPlot => PathOf(LossPlotFile);
    public string AccuracyPlot => PathOf(AccuracyPlotFile);
    public string ConfusionPlot => PathOf(ConfusionPlotFile);
    public string ConfusionText => PathOf(ConfusionTextFile);
    public string Evaluation => PathOf(EvaluationFile);
    /// <summary>The run's resolved configuration: what a resume without --config reads.</summary>
    public string Config => PathOf(ConfigFile);
    public string Log => PathOf(LogFile);
    public string Checkpoint => PathOf(CheckpointFile);
}
