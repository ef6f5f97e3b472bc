using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Cifar.Host.Artifacts;
using Cifar.Host.Cli;
using Cifar.Host.Configuration;
using Cifar.Host.Data;
using Cifar.MLNet;
using Cifar.MLNet.Data;
using Cifar.Networks;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.Host.Commands;

/// <summary>
/// <c>cifar train</c>: the tutorial's run, driven by the configuration, writing the files of its
/// <see cref="RunLayout"/> into the output folder. Every artifact but the appended log is written atomically; metrics,
/// plots and the checkpoint after every epoch (<see cref="EpochReport"/>).
/// </summary>
internal sealed class TrainCommand
{
    private readonly CifarConfig _config;
    private readonly CifarDownloader _downloader;
    private readonly ILogger<TrainCommand> _log;

    public TrainCommand(CifarConfig config, CifarDownloader downloader, ILogger<TrainCommand> log)
    {
        _config = config;
        _downloader = downloader;
        _log = log;
    }

    /// <summary>The run, step by step: data, libtorch, configuration record, fit, model, evaluation.</summary>
    public async Task<int> RunAsync(RunLayout run, bool resume, TextWriter output, bool interactive, CancellationToken cancellation)
    {
        // The app's choice, not the library's: glibc keeps freed buffers for reuse (a faster CPU step, docs/performance.md).
        TorchRuntime.KeepFreedNativeBuffers();
        var root = await EnsureDataAsync(output, cancellation);
        var setup = PrepareLibtorch(output);
        // A resumed run keeps the configuration it started with (the checkpoint refuses other settings).
        if (resume) CheckSameSplit(run);
        else AtomicFile.WriteText(run.Config, JsonSerializer.Serialize(_config, ConfigLoader.IndentedJson));
        var clock = Stopwatch.StartNew();
        var ml = new MLContext(_config.Training.Seed).KeepOnnxSessionOptionsAlive(); // its normalization stage makes an ONNX session
        var data = LoadData(ml, root, output);
        var report = new EpochReport(run, _config.Training.Epochs, setup, data.Classes, _config.Data.ImageFormat(), output, interactive, _log);
        var model = Fit(ml, data, run, resume, report, cancellation);
        if (model is null) return ExitCodes.Failure;
        // Disposing the chain frees the network and deletes the stages' ONNX graph files.
        using var fitted = model;
        AtomicFile.Write(run.Model, stream => ml.Model.Save(model, data.Train.Schema, stream));
        output.WriteLine($"saved {run.Model} after {clock.Elapsed.TotalMinutes:F1} min");
        WriteEvaluation(ml, model, data, run, output, setup, clock.Elapsed);
        return ExitCodes.Success;
    }

    /// <summary>
    /// A resumed run validates on the images it started with: the split of a folder of class folders is not in the
    /// checkpoint's settings (its counts may not change while its images do), so its keys are compared with the run's
    /// config.json here.
    /// </summary>
    private void CheckSameSplit(RunLayout run)
    {
        var recordedPath = run.Config;
        if (!File.Exists(recordedPath)) return;
        var recorded = ConfigLoader.Load([recordedPath], []).Config.Data;
        var (was, now) = (recorded, _config.Data);
        if (was.ValidationFraction != now.ValidationFraction)
            throw new UserError(string.Create(CultureInfo.InvariantCulture,
                $"{recordedPath}: Data:ValidationFraction was {was.ValidationFraction?.ToString() ?? "not set"}, now {now.ValidationFraction?.ToString() ?? "not set"}: a resumed run keeps its split"));
        if (was.SplitSeed != now.SplitSeed)
            throw new UserError($"{recordedPath}: Data:SplitSeed was {was.SplitSeed}, now {now.SplitSeed}: a resumed run keeps its split");
    }

    /// <summary>The data root, downloading the official release first when asked to and it is missing.</summary>
    private async Task<string> EnsureDataAsync(TextWriter output, CancellationToken cancellation)
    {
        var c = _config.Data;
        var root = DataLocator.Resolve(c.Root);
        if (!DataLocator.HasTrainingData(root) && c.Download)
            await _downloader.DownloadAsync(c.DownloadUrl, c.DownloadMd5, root, output, cancellation);
        return root;
    }

    /// <summary>
    /// Loads libtorch (Torch:LibraryPath when given), resolves the device, precision and threads, and says which libtorch
    /// trains where and how.
    /// </summary>
    private TrainingSetup PrepareLibtorch(TextWriter output)
    {
        TrainingSetup setup;
        try
        {
            if (_config.Torch.LibraryPath is { Length: > 0 } libraryPath) TorchRuntime.UseLibraryDirectory(libraryPath);
        }
        catch (LibtorchLoadException e)
        {
            throw new UserError($"Torch:LibraryPath: {e.Message}", e);
        }
        try
        {
            setup = TorchRuntime.DescribeTraining(_config.Training);
        }
        catch (InvalidOperationException e)
        {
            throw new UserError($"Training:Device: {e.Message}", e);
        }
        catch (LibtorchLoadException e)
        {
            throw new UserError(e.Message, e);
        }
        var runtime = TorchRuntime.Describe();
        // Flushing and the CPU's memory concern CPU training: said only where training runs there.
        bool cpu = setup.Device == "cpu", flushWanted = _config.Training.FlushDenormals && cpu;
        var line = runtime + (flushWanted && runtime.CanFlushDenormals ? ", denormals flushed to zero" : "")
                   + (cpu && runtime.HugePages ? ", huge pages" : "") + (cpu && runtime.KeepsFreedNativeBuffers ? ", freed buffers kept" : "")
                   + (cpu && runtime.OneNativeHeap ? ", one heap for all threads" : "");
        output.WriteLine(line);
        _log.LogInformation("{Libtorch}", line);
        output.WriteLine($"training: {setup}");
        _log.LogInformation("Training: {Setup}", setup);
        if (runtime.VersionWarning is { } warning) Warn(output, warning);
        if (runtime.CpuKernelLimit is { } limit && setup.Device == "cpu") Warn(output, limit);
        if (flushWanted && !runtime.CanFlushDenormals)
            Warn(output, "Training:FlushDenormals: denormals can be flushed on x86-64 Linux only; this run keeps them (long CPU runs may slow down)");
        return setup;
    }

    private void Warn(TextWriter output, string warning)
    {
        output.WriteLine($"warning: {warning}");
        _log.LogWarning("{Warning}", warning);
    }

    private sealed record RunData(IDataView Train, IDataView Validation, IReadOnlyList<string> Classes);

    /// <summary>
    /// Training and validation data, undecodable images skipped when asked to; says what will train (the
    /// <c>data:</c> line, images per class when unbalanced, classes a part lacks) and logs the per-class table.
    /// </summary>
    private RunData LoadData(MLContext ml, string root, TextWriter output)
    {
        var c = _config.Data;
        var data = DataLocator.LoadSplits(ml, root, c);
        var (train, validation) = (data.Train, data.Validation);
        if (c.SkipBadImages)
        {
            // Counting the filtered views decodes every image once: it is done once, below.
            train = CifarDataLoader.WithoutUndecodableImages(ml, train);
            validation = CifarDataLoader.WithoutUndecodableImages(ml, validation);
        }
        var counts = new ClassCounts(data.Classes, CifarDataLoader.ClassCounts(train), CifarDataLoader.ClassCounts(validation));
        long skipped = c.SkipBadImages ? CountRows(data.Train) + CountRows(data.Validation) - counts.TrainTotal - counts.ValidationTotal : 0;
        CheckTrainable(root, counts);
        output.WriteLine($"data: {root} ({data.Layout}) — {counts.TrainTotal} training, {counts.ValidationTotal} validation images, {data.Classes.Count} classes"
            + (skipped > 0 ? $"; skipped {skipped} images that cannot be decoded" : "")
            + (data.IgnoredFiles > 0 ? $"; ignored {(data.IgnoredFiles == 1 ? "1 file that is not an image" : $"{data.IgnoredFiles} files that are not images")}" : ""));
        output.WriteLine($"images: read as {c.ImageFormat()}, channels first (each image stretched to that size; Data:ImageSize, Data:ColorMode)");
        _log.LogInformation("Training {Train} images, validating on {Validation}, config {Config}",
            counts.TrainTotal, counts.ValidationTotal, JsonSerializer.Serialize(_config, ConfigLoader.Json));
        _log.LogInformation("{Table}", counts.Table());
        if (counts.ConsoleReport() is { } report) output.WriteLine(report);
        foreach (var missing in counts.Missing()) Warn(output, missing);
        return new RunData(train, validation, data.Classes);
    }

    /// <summary>What the trainer would refuse as an argument, said here of the data root: a part left empty.</summary>
    private void CheckTrainable(string root, ClassCounts counts)
    {
        var skippedAll = _config.Data.SkipBadImages ? " (every image was skipped as undecodable)" : "";
        if (counts.TrainTotal == 0) throw new UserError($"{root}: no training images left{skippedAll}");
        if (counts.ValidationTotal == 0) throw new UserError($"{root}: no validation images left{skippedAll}");
    }

    /// <summary>
    /// Trains the configured pipeline, reporting each epoch and writing metrics and plots after it; null when the user
    /// stopped the run (its checkpoint stays for --resume).
    /// </summary>
    private TransformerChain<CifarCnnTransformer>? Fit(MLContext ml, RunData data, RunLayout run, bool resume, EpochReport report,
        CancellationToken cancellation)
    {
        var options = report.Reporting(CifarCnnOptions.For(_config.Recipe)) with
        {
            CancellationToken = cancellation,
            CheckpointPath = run.Checkpoint,
            Resume = resume,
        };
        var pipeline = ml.Transforms.CifarStages(_config.Recipe, _config.Data.ImageFormat()).AppendCifarCnn(options, data.Validation);
        try
        {
            return pipeline.Fit(data.Train);
        }
        catch (OperationCanceledException)
        {
            report.Stopped();
            return null;
        }
        catch (TrainingDivergedException)
        {
            report.ClearProgress();
            throw;
        }
        catch (Exception e) when (Refusal(e) is { } refusal)
        {
            throw refusal;
        }
    }

    /// <summary>What the trainer refused, as a user error naming the config key; null for any other failure.</summary>
    private UserError? Refusal(Exception e) => e switch
    {
        CheckpointException => new UserError(e.Message, e),
        NetworkDefinitionException => new UserError($"Model:{(_config.Model.Network is null ? "Architecture" : "Network")}: {e.Message}", e),
        InitialWeightsException => new UserError($"Model:InitialWeights: {e.Message}", e),
        // ML.NET may deliver it wrapped, from the thread that decoded the image.
        _ when e.GetBaseException() is CifarDataException bad => new UserError(bad.Message + " (Data:SkipBadImages=true skips such files)", e),
        _ => null,
    };

    /// <summary>The final validation: confusion plot and report files, and the summary on the console.</summary>
    private void WriteEvaluation(MLContext ml, TransformerChain<CifarCnnTransformer> model, RunData data, RunLayout run, TextWriter output,
        TrainingSetup setup, TimeSpan elapsed)
    {
        // The trainer measured the last epoch's validation pass on the device; scoring it again through
        // ML.NET is only needed when a resumed run had nothing left to train.
        var evaluation = model.LastTransformer.FinalValidation is { } final
            ? Evaluation.From(final)
            : Evaluation.From(ml.MulticlassClassification.Evaluate(model.Transform(data.Validation)));
        AtomicFile.WriteBytes(run.ConfusionPlot, Plots.Confusion(data.Classes, evaluation.Counts));
        AtomicFile.WriteText(run.ConfusionText, EvaluationReport.Full(data.Classes, evaluation));
        AtomicFile.WriteText(run.Evaluation, MetricsFiles.EvaluationJson(data.Classes, evaluation, _config.Model.TestTimeAugmentation, setup, elapsed));
        output.WriteLine($"validation: {EvaluationReport.Summary(evaluation)}");
        // A matrix of many classes does not fit a terminal: confusion.txt and confusion.png hold it.
        output.Write(data.Classes.Count <= ClassCounts.ConsoleTableLimit
            ? EvaluationReport.ConfusionMatrix(data.Classes, evaluation.Counts)
            : $"confusion matrix: {data.Classes.Count}×{data.Classes.Count}, in {run.ConfusionText} and {RunLayout.ConfusionPlotFile}\n"
              + EvaluationReport.Bounded(data.Classes, evaluation));
        _log.LogInformation("Validation {Summary}", EvaluationReport.Summary(evaluation));
    }

    private static long CountRows(IDataView data) => data.GetRowCount() ?? data.GetColumn<uint>(CifarColumns.Label).LongCount();
}
