using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Cifar.Host.Artifacts;
using Cifar.Host.Cli;
using Cifar.Host.Configuration;
using Cifar.Host.Data;
using Cifar.MLNet;
using Cifar.MLNet.Data;
using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Native;
using Cifar.Trainer.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.Host.Commands;

/// <summary>
/// <c>cifar train</c>: the tutorial's run, driven by the configuration, writing into the output
/// folder model.zip, metrics.csv/json, loss.png, accuracy.png, confusion.png/txt, config.json,
/// checkpoint.bin and train.log. Every artifact but the appended log is written atomically; metrics,
/// plots and the checkpoint after every epoch.
/// </summary>
internal sealed class TrainCommand
{
    public const string ModelFile = "model.zip", MetricsCsv = "metrics.csv", MetricsJson = "metrics.json",
        LossPlot = "loss.png", AccuracyPlot = "accuracy.png", ConfusionPlot = "confusion.png",
        ConfusionText = "confusion.txt", ResolvedConfig = "config.json", LogFile = "train.log", CheckpointFile = "checkpoint.bin";

    private readonly CifarConfig _config;
    private readonly CifarDownloader _downloader;
    private readonly ILogger<TrainCommand> _log;

    public TrainCommand(CifarConfig config, CifarDownloader downloader, ILogger<TrainCommand> log)
    {
        _config = config;
        _downloader = downloader;
        _log = log;
    }

    public async Task<int> RunAsync(string outputDir, bool resume, TextWriter output, bool interactive, CancellationToken cancellation)
    {
        var c = _config;
        var root = DataLocator.Resolve(c.Data.Root);
        if (!DataLocator.HasData(root, CifarSplit.Train) && c.Data.Download)
            await _downloader.DownloadAsync(c.Data.DownloadUrl, c.Data.DownloadMd5, root, output, cancellation);
        if (c.Torch.LibraryPath is { Length: > 0 } libraryPath)
        {
            try
            {
                Libtorch.UseDirectory(libraryPath);
            }
            catch (LibtorchLoadException e)
            {
                throw new UserError($"Torch:LibraryPath: {e.Message}");
            }
        }
        var device = ParseDevice(c.Training.Device);
        string deviceName;
        try
        {
            deviceName = DeviceSelector.Resolve(device).ToString();
        }
        catch (InvalidOperationException e)
        {
            throw new UserError($"Training:Device: {e.Message}");
        }
        catch (LibtorchLoadException e)
        {
            throw new UserError(e.Message);
        }
        // Flushing concerns the CPU's arithmetic: said only where training runs there.
        ReportLibtorch(output, c.Training.FlushDenormals && deviceName == "cpu");
        // A resumed run keeps the configuration it started with (the checkpoint refuses other settings).
        if (!resume)
            AtomicFile.WriteText(Path.Combine(outputDir, ResolvedConfig), JsonSerializer.Serialize(c, new JsonSerializerOptions { WriteIndented = true }));

        var ml = new MLContext(c.Training.Seed);
        var clock = Stopwatch.StartNew();
        var train = DataLocator.Load(ml, root, CifarSplit.Train, c.Data.TrainLimit);
        var validation = DataLocator.Load(ml, root, CifarSplit.Test, c.Data.ValidationLimit);
        long trainCount = CountRows(train), validationCount = CountRows(validation), skipped = 0;
        if (c.Data.SkipBadImages)
        {
            // Counting the filtered views decodes every image once: do it once.
            train = CifarDataLoader.WithoutUndecodableImages(ml, train);
            validation = CifarDataLoader.WithoutUndecodableImages(ml, validation);
            long keptTrain = CountRows(train), keptValidation = CountRows(validation);
            skipped = trainCount + validationCount - keptTrain - keptValidation;
            (trainCount, validationCount) = (keptTrain, keptValidation);
        }
        var classes = CifarDataLoader.ClassNames(train);
        if (!classes.SequenceEqual(CifarDataLoader.ClassNames(validation)))
            throw new UserError($"{root}: the train and test splits have different classes ({string.Join(", ", classes)} / {string.Join(", ", CifarDataLoader.ClassNames(validation))})");
        output.WriteLine($"data: {root} — {trainCount} training, {validationCount} validation images, {classes.Count} classes; device {deviceName}"
            + (skipped > 0 ? $"; skipped {skipped} images that cannot be decoded" : ""));
        _log.LogInformation("Training {Train} images, validating on {Validation}, device {Device}, config {Config}",
            trainCount, validationCount, deviceName, JsonSerializer.Serialize(c));

        var history = new List<EpochMetrics>();
        var progress = new ProgressBar(output, interactive);
        var options = new CifarCnnOptions
        {
            Architecture = c.Model.Architecture,
            Epochs = c.Training.Epochs,
            BatchSize = c.Training.BatchSize,
            Optimizer = Enum.Parse<OptimizerKind>(c.Training.Optimizer, ignoreCase: true),
            LearningRate = c.Training.LearningRate,
            WeightDecay = c.Training.WeightDecay,
            Shuffle = c.Training.Shuffle,
            Seed = c.Training.Seed,
            FlushDenormals = c.Training.FlushDenormals,
            Device = device,
            ValidationSet = validation,
            CancellationToken = cancellation,
            BatchCompleted = progress.Report,
            CheckpointPath = Path.Combine(outputDir, CheckpointFile),
            Resume = resume,
            Resumed = done =>
            {
                history.AddRange(done);
                output.WriteLine($"resuming after epoch {done.Count} from {Path.Combine(outputDir, CheckpointFile)}");
                foreach (var m in done) output.WriteLine(EpochLine(m, c.Training.Epochs));
            },
            EpochCompleted = m =>
            {
                progress.Clear();
                history.Add(m);
                var line = EpochLine(m, c.Training.Epochs);
                output.WriteLine(line);
                output.Flush();
                _log.LogInformation("{Line}", line);
                WriteMetrics(outputDir, history, deviceName, classes);
            },
        };
        var pipeline = ml.Transforms.LoadCifarImages()
            .Append(ml.Transforms.NormalizeCifarPixels(new PixelNormalization(c.Normalization.Mean, c.Normalization.Std)))
            .Append(ml.Transforms.AugmentCifarImages(Augmentation(c.Augmentation)))
            .Append(new CifarCnnEstimator(options, ml));

        TransformerChain<CifarCnnTransformer> model;
        try
        {
            model = pipeline.Fit(train);
        }
        catch (OperationCanceledException)
        {
            progress.Clear();
            output.WriteLine($"stopped after {history.Count} of {c.Training.Epochs} epochs; their metrics and checkpoint are in {outputDir} (continue with --resume), no model was saved");
            _log.LogWarning("Stopped by the user after {Epochs} epochs", history.Count);
            return ExitCodes.Failure;
        }
        catch (TrainingDivergedException e)
        {
            progress.Clear();
            _log.LogInformation("Stopped: {Message}", e.Message); // the app prints the error line itself
            throw;
        }
        catch (CheckpointException e)
        {
            throw new UserError(e.Message);
        }
        catch (CifarDataException e)
        {
            throw new UserError(e.Message + " (Data:SkipBadImages=true skips such files)");
        }
        using var cnn = model.LastTransformer;
        var modelPath = Path.Combine(outputDir, ModelFile);
        AtomicFile.Write(modelPath, stream => ml.Model.Save(model, train.Schema, stream));
        output.WriteLine($"saved {modelPath} after {clock.Elapsed.TotalMinutes:F1} min");

        // The trainer measured the last epoch's validation pass on the device; scoring it again through
        // ML.NET is only needed when a resumed run had nothing left to train.
        var evaluation = cnn.FinalValidation is { } final
            ? Evaluation.From(final)
            : Evaluation.From(ml.MulticlassClassification.Evaluate(model.Transform(validation)));
        AtomicFile.WriteBytes(Path.Combine(outputDir, ConfusionPlot), Plots.Confusion(classes, evaluation.Counts));
        AtomicFile.WriteText(Path.Combine(outputDir, ConfusionText), EvaluationReport.Full(classes, evaluation));
        output.WriteLine($"validation: {EvaluationReport.Summary(evaluation)}");
        output.Write(EvaluationReport.ConfusionMatrix(classes, evaluation.Counts));
        _log.LogInformation("Validation {Summary}", EvaluationReport.Summary(evaluation));
        return ExitCodes.Success;
    }

    /// <summary>Which libtorch trains, and a warning when it is not the version TorchSharp is built for.</summary>
    private void ReportLibtorch(TextWriter output, bool flushDenormalsOnCpu)
    {
        var libtorch = Libtorch.Loaded();
        bool flushing = flushDenormalsOnCpu && DenormalFlushing.IsSupported;
        var line = $"{libtorch?.ToString() ?? "libtorch (folder unknown)"}, TorchSharp {Libtorch.TorchSharpVersion}"
                   + (flushing ? ", denormals flushed to zero" : "");
        output.WriteLine(line);
        _log.LogInformation("{Libtorch}", line);
        if (libtorch?.VersionWarning is { } warning)
        {
            output.WriteLine($"warning: {warning}");
            _log.LogWarning("{Warning}", warning);
        }
        if (flushDenormalsOnCpu && !flushing)
        {
            const string noFlush = "Training:FlushDenormals: denormals can be flushed on x86-64 Linux only; this run keeps them (long CPU runs may slow down)";
            output.WriteLine($"warning: {noFlush}");
            _log.LogWarning("{Warning}", noFlush);
        }
    }

    private static long CountRows(IDataView data) => data.GetRowCount() ?? data.GetColumn<uint>(CifarColumns.Label).LongCount();

    public static string EpochLine(EpochMetrics m, int epochs) => string.Create(CultureInfo.InvariantCulture,
        $"Epoch {m.Epoch}/{epochs}: train loss {m.TrainLoss:F4}, train acc {m.TrainAccuracy:P2} | val loss {m.ValidationLoss:F4}, val acc {m.ValidationAccuracy:P2} | {m.Seconds:F1}s");

    private static void WriteMetrics(string outputDir, IReadOnlyList<EpochMetrics> history, string device, IReadOnlyList<string> classes)
    {
        AtomicFile.WriteText(Path.Combine(outputDir, MetricsCsv), MetricsFiles.ToCsv(history));
        AtomicFile.WriteText(Path.Combine(outputDir, MetricsJson), MetricsFiles.ToJson(history, new { device, classes }));
        AtomicFile.WriteBytes(Path.Combine(outputDir, LossPlot), Plots.Loss(history));
        AtomicFile.WriteBytes(Path.Combine(outputDir, AccuracyPlot), Plots.Accuracy(history));
    }

    private static ComputeDevice ParseDevice(string device) => device.ToLowerInvariant() switch
    {
        "cpu" => ComputeDevice.Cpu,
        "cuda" => ComputeDevice.Cuda,
        _ => ComputeDevice.Auto,
    };

    private static AugmentationSettings Augmentation(AugmentationConfig a) => new()
    {
        HorizontalFlipProbability = a.HorizontalFlip ? a.HorizontalFlipProbability : 0,
        RotationDegrees = a.RotationDegrees,
        Brightness = a.ColorJitter.Brightness,
        Contrast = a.ColorJitter.Contrast,
        Saturation = a.ColorJitter.Saturation,
        Hue = a.ColorJitter.Hue,
    };
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
