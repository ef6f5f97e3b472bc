using System.Diagnostics;
using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Native;
using Cifar.Trainer.Networks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>Callbacks a training run reports through; every member is optional.</summary>
internal sealed record TrainingCallbacks
{
    /// <summary>Called after every epoch, validation included.</summary>
    public Action<EpochMetrics>? EpochCompleted { get; init; }

    /// <summary>Called after every training batch.</summary>
    public Action<BatchProgress>? BatchCompleted { get; init; }

    /// <summary>Called once when a run resumes from a checkpoint, with the epochs done before.</summary>
    public Action<IReadOnlyList<EpochMetrics>>? Resumed { get; init; }
}

/// <summary>A trained network, the device it lives on, and its per-epoch history.</summary>
internal sealed class TrainedNetwork : IDisposable
{
    internal TrainedNetwork(Sequential network, Device device, IReadOnlyList<EpochMetrics> history, ValidationResult? finalValidation,
        TestTimeAugmentation testTimeAugmentation)
    {
        Network = network;
        TestTimeAugmentation = testTimeAugmentation;
        Device = device;
        History = history;
        FinalValidation = finalValidation;
    }

    /// <summary>The network, in evaluation mode.</summary>
    public Sequential Network { get; }

    /// <summary>How the network scores images (<see cref="ModelOptions.TestTimeAugmentation"/>).</summary>
    public TestTimeAugmentation TestTimeAugmentation { get; }

    /// <summary>Where the network's weights are.</summary>
    public Device Device { get; }

    /// <summary>One entry per completed epoch.</summary>
    public IReadOnlyList<EpochMetrics> History { get; }

    /// <summary>
    /// The validation set's metrics and confusion matrix after the last epoch (with the test-time augmentation), or null without a
    /// validation set (or when a resumed run had no epoch left to train).
    /// </summary>
    public ValidationResult? FinalValidation { get; }

    /// <inheritdoc />
    public void Dispose() => Network.Dispose();
}

/// <summary>The training loop: the tutorial's, read top to bottom.</summary>
internal static class CnnTrainer
{
    /// <summary>
    /// Trains a fresh network on <paramref name="train"/>: per epoch, shuffle, augment each batch
    /// (when <paramref name="augmenter"/> is given), step the optimizer on the cross-entropy loss,
    /// then evaluate on <paramref name="validation"/> (when given), report the epoch and write a
    /// checkpoint (when <see cref="TrainingRun.CheckpointPath"/> is set). With
    /// <see cref="TrainingRun.Resume"/> it continues from that checkpoint, bit for bit as the
    /// uninterrupted run would have on the CPU. With <see cref="TrainingOptions.FlushDenormals"/> the run
    /// happens on a thread of its own whose libtorch workers flush denormals (<see cref="DenormalFlushing"/>);
    /// the callbacks are called on that thread, with the calling thread's denormal setting (threads they start do not
    /// inherit the flushing), and the calling thread's setting is never changed.
    /// </summary>
    /// <param name="train">Training pixels, normalization and labels (any device; moved as needed).</param>
    /// <param name="validation">Validation pixels, normalization and labels, or null.</param>
    /// <param name="classCount">Number of classes (labels are 0 .. classCount − 1).</param>
    /// <param name="run">What to train and how, trusted as valid.</param>
    /// <param name="augmenter">Train-time augmentation, or null for none.</param>
    /// <param name="callbacks">Progress callbacks, or null.</param>
    /// <param name="cancellation">Stops training between batches; throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite.</exception>
    /// <exception cref="CheckpointException">The checkpoint to resume from is unreadable or from other settings.</exception>
    public static TrainedNetwork Train(
        TensorDataset train,
        TensorDataset? validation,
        int classCount,
        TrainingRun run,
        BatchAugmenter? augmenter = null,
        TrainingCallbacks? callbacks = null,
        CancellationToken cancellation = default)
    {
        var device = DeviceSelector.Resolve(run.Training.Device);
        return DenormalFlushing.Run(run.Training.FlushDenormals, caller =>
        {
            // The callbacks are the caller's code: they compute, and start threads, with the caller's denormal setting.
            var outward = callbacks is null ? null : callbacks with
            {
                EpochCompleted = caller.Wrap(callbacks.EpochCompleted),
                BatchCompleted = caller.Wrap(callbacks.BatchCompleted),
                Resumed = caller.Wrap(callbacks.Resumed),
            };
            return Train(device, train, validation, classCount, run, augmenter, outward, cancellation);
        });
    }

    private static TrainedNetwork Train(Device device, TensorDataset train, TensorDataset? validation, int classCount,
        TrainingRun run, BatchAugmenter? augmenter, TrainingCallbacks? callbacks, CancellationToken cancellation)
    {
        var settings = run.Training;
        Sequential network;
        Sequential? working = null; // the 16-bit copy of mixed precision; its weights come from the network's
        var passType = settings.PassTypeFor(device.type);
        // Layers draw their initial weights from libtorch's one process-wide generator: a run started at the same
        // time on another thread must not draw between this seed and these weights.
        lock (InitialWeightsGate)
        {
            random.manual_seed(settings.Seed);
            network = Architectures.Create(run.Model.Definition, classCount, train.ImageShape);
            if (passType is not null) working = Architectures.Create(run.Model.Definition, classCount, train.ImageShape);
        }
        MixedPrecision? precision = null;
        // Created once the weights are final: FlatAdam seats the parameters in its flat tensor, and loading a
        // checkpoint into a CUDA module replaces them (TorchSharp loads through the CPU).
        IStepper? optimizer = null;
        using var shuffleGenerator = new Generator((ulong)settings.Seed);
        using var augmentGenerator = new Generator((ulong)settings.Seed + 1);

        TensorDataset? trainOnDevice = null, validationOnDevice = null;
        var history = new List<EpochMetrics>();
        ValidationResult? validationResult = null;
        var fingerprint = Checkpoint.Fingerprint(run, classCount, train, augmenter?.Settings, device.type);
        try
        {
            bool resuming = run.ResumesFromCheckpoint;
            if (run.StartingWeights is { } startingWeights) InitialWeights.Load(startingWeights, network);
            // Inside the try: a failed move or copy to the device (out of memory) still frees the network.
            network.to(device);
            trainOnDevice = train.To(device);
            validationOnDevice = validation?.To(device);
            // A fresh network's data-dependent layers start from the training images' statistics.
            if (!resuming && run.StartingWeights is null) InitializeFromData(network, trainOnDevice);
            long totalSteps = (long)settings.Epochs * BatchCount(train.Count, settings.BatchSize);
            int firstEpoch = 1;
            if (resuming)
            {
                var state = Checkpoint.Load(run.CheckpointPath!, fingerprint, network, () => optimizer = Optimizers.Create(network, settings, totalSteps),
                    shuffleGenerator, augmentGenerator);
                history.AddRange(state.History);
                firstEpoch = state.Epoch + 1;
                callbacks?.Resumed?.Invoke(history.ToArray());
            }
            optimizer ??= Optimizers.Create(network, settings, totalSteps);
            // Last: loading a checkpoint may replace the network's tensors, which the copy holds on to.
            if (passType is { } type) precision = new MixedPrecision(network, working!.to(device), type, settings.BatchSize);
            for (int epoch = firstEpoch; epoch <= settings.Epochs; epoch++)
            {
                var clock = Stopwatch.StartNew();
                foreach (var whitening in network.modules().OfType<PatchWhiteningModule>()) whitening.SetEpoch(epoch);
                var (trainLoss, trainAccuracy) = TrainOneEpoch(network, precision, optimizer, trainOnDevice, run,
                    augmenter, shuffleGenerator, augmentGenerator, epoch, totalSteps, callbacks, cancellation);
                double trainSeconds = clock.Elapsed.TotalSeconds;
                // In float32 on the network itself: what the saved model scores (and, at the CPU's small evaluation
                // batches, no slower than the 16-bit copy).
                validationResult = validationOnDevice is null
                    ? null
                    : Evaluate(network, validationOnDevice, settings.EvaluationBatchSizeFor(device.type));
                var metrics = new EpochMetrics(epoch, trainLoss, trainAccuracy,
                    validationResult?.Loss, validationResult?.Accuracy, clock.Elapsed.TotalSeconds) { TrainSeconds = trainSeconds };
                history.Add(metrics);
                if (run.CheckpointPath is { } path)
                    Checkpoint.Save(path, epoch, history, fingerprint, network, optimizer, shuffleGenerator, augmentGenerator);
                callbacks?.EpochCompleted?.Invoke(metrics);
            }
            // The final validation scores as the saved model will: in float32, with the test-time views.
            if (run.Model.TestTimeAugmentation != TestTimeAugmentation.None && validationResult is not null)
                validationResult = Evaluate(network, validationOnDevice!, settings.EvaluationBatchSizeFor(device.type), run.Model.TestTimeAugmentation);
        }
        catch
        {
            network.Dispose();
            throw;
        }
        finally
        {
            if (trainOnDevice is not null && !ReferenceEquals(trainOnDevice, train)) trainOnDevice.Dispose();
            if (validationOnDevice is not null && !ReferenceEquals(validationOnDevice, validation)) validationOnDevice.Dispose();
            optimizer?.Dispose();
            if (precision is not null) precision.Dispose(); // with the copy it holds
            else working?.Dispose();
        }
        network.eval();
        return new TrainedNetwork(network, device, history, validationResult, run.Model.TestTimeAugmentation);
    }

    private static readonly object InitialWeightsGate = new();

    private static int BatchCount(long images, int batchSize) => (int)((images + batchSize - 1) / batchSize);

    /// <summary>Sets the layers whose initial weights come from the data (patch whitening) from the first training images.</summary>
    private static void InitializeFromData(Sequential network, TensorDataset train)
    {
        foreach (var whitening in network.modules().OfType<PatchWhiteningModule>())
        {
            using var images = train.Normalized(0, Math.Min(train.Count, whitening.Definition.InitImages));
            whitening.Initialize(images);
        }
    }

    /// <summary>
    /// Checks, before any data is read, that the run's network builds for <paramref name="classCount"/> classes and images
    /// of <paramref name="inputShape"/> ([C, H, W]; null: 3×32×32), and that the weights it starts from fit it, so a wrong
    /// network fails in a second rather than after the data is loaded.
    /// </summary>
    /// <exception cref="Cifar.Networks.NetworkDefinitionException">A layer cannot be built; the message names it.</exception>
    /// <returns>
    /// Where the initial weights leave the head fresh (other classes or image size: fine-tuning), a line saying so and
    /// why; else null.
    /// </returns>
    /// <exception cref="InitialWeightsException">The initial weights are unreadable or belong to another network.</exception>
    public static string? CheckModel(TrainingRun run, int classCount, IReadOnlyList<int>? inputShape = null)
    {
        run.Model.Definition.Check(classCount, inputShape);
        if (run.StartingWeights is not { } path) return null;
        // Built under the gate: drawing its throwaway weights must not fall between another run's seed and its weights.
        lock (InitialWeightsGate)
        {
            using var network = Architectures.Create(run.Model.Definition, classCount, inputShape);
            return InitialWeights.Load(path, network) is { } head
                ? $"fine-tuning: every layer from {path} but the head, which starts fresh (layer {head})"
                : null;
        }
    }

    /// <summary>Steps between the (cheap, rare) host reads that check for a non-finite loss.</summary>
    private const int FiniteCheckInterval = 50;

    private static (double Loss, double Accuracy) TrainOneEpoch(
        Sequential network, MixedPrecision? precision, IStepper optimizer, TensorDataset data, TrainingRun run,
        BatchAugmenter? augmenter, Generator shuffleGenerator, Generator augmentGenerator, int epoch, long totalSteps,
        TrainingCallbacks? callbacks, CancellationToken cancellation)
    {
        network.train();
        precision?.train();
        nn.Module<Tensor, Tensor> passes = (nn.Module<Tensor, Tensor>?)precision ?? network;
        var settings = run.Training;
        long count = data.Count;
        int batchCount = BatchCount(count, settings.BatchSize);
        long firstStep = (long)(epoch - 1) * batchCount;
        // Drawn on the CPU generator so a seed gives the same order on every device.
        using var permutation = settings.Shuffle ? randperm(count, generator: shuffleGenerator) : arange(count);
        using var order = permutation.to(data.Images.device);
        // Sums stay on the device and are read once per epoch: no host sync per step.
        using var lossSum = zeros(1, dtype: ScalarType.Float64, device: data.Images.device);
        using var correct = zeros(1, dtype: ScalarType.Int64, device: data.Images.device);
        // The first step whose loss was not finite (−1: none yet), tracked on the device.
        using var firstBadStep = full(1, -1L, dtype: ScalarType.Int64, device: data.Images.device);
        // The epoch's augmentation parameters, drawn at once (the tensors sent to the device once).
        using var draws = augmenter?.DrawEpoch(count, settings.BatchSize, epoch, (ulong)settings.Seed + 2, augmentGenerator, data.Images.device);
        for (int batch = 0; batch < batchCount; batch++)
        {
            cancellation.ThrowIfCancellationRequested();
            if (batch % FiniteCheckInterval == 0) ThrowIfDiverged(firstBadStep, epoch, run);
            using (NewDisposeScope())
            {
                var indices = order.narrow(0, (long)batch * settings.BatchSize,
                    Math.Min(settings.BatchSize, count - (long)batch * settings.BatchSize));
                long start = (long)batch * settings.BatchSize;
                var images = TrainingBatch(data, indices, augmenter, draws, start);
                var labels = data.Labels.index_select(0, indices);

                precision?.LoadFromMaster();
                var logits = passes.forward(images);
                var loss = Loss(logits, labels, settings.LabelSmoothing);
                optimizer.ZeroGrad();
                (precision?.Scaled(loss) ?? loss).backward();
                precision?.StoreInMaster();
                optimizer.Step(settings.Schedule.Factor(firstStep + batch, totalSteps));

                lossSum.add_(loss.detach().to(ScalarType.Float64) * indices.shape[0]);
                correct.add_(logits.argmax(1).eq(labels).sum());
                // masked_fill takes the step as a scalar argument: no host-to-device copy, no sync.
                firstBadStep.masked_fill_(loss.detach().isfinite().logical_not().logical_and(firstBadStep.lt(0)), batch + 1L);
            }
            callbacks?.BatchCompleted?.Invoke(new BatchProgress(epoch, batch + 1, batchCount));
        }
        ThrowIfDiverged(firstBadStep, epoch, run);
        return (lossSum.item<double>() / count, (double)correct.item<long>() / count);
    }

    /// <summary>
    /// The normalized images at <paramref name="indices"/>, the epoch's images <paramref name="start"/> onwards;
    /// with an augmenter, augmented as [0, 1] pixels with the epoch's draws first (per-image draws by their indices).
    /// </summary>
    private static Tensor TrainingBatch(TensorDataset data, Tensor indices, BatchAugmenter? augmenter, EpochDraws? draws, long start) =>
        augmenter is null ? data.Normalized(indices) : data.NormalizePixels(augmenter.Apply(data.Pixels(indices), draws!, indices, start));

    /// <summary>
    /// Mean cross-entropy; with label smoothing ε, against targets of 1 − ε on the true class plus ε spread evenly
    /// over all classes (PyTorch's <c>label_smoothing</c>, which TorchSharp 0.107's <c>cross_entropy</c> lacks).
    /// </summary>
    private static Tensor Loss(Tensor logits, Tensor labels, double labelSmoothing)
    {
        if (labelSmoothing == 0) return nn.functional.cross_entropy(logits, labels);
        var logProbabilities = logits.log_softmax(1);
        var trueClass = -logProbabilities.gather(1, labels.unsqueeze(1)).squeeze(1);
        var uniform = -logProbabilities.mean(new long[] { 1 });
        return (trueClass * (1 - labelSmoothing) + uniform * labelSmoothing).mean();
    }

    private static void ThrowIfDiverged(Tensor firstBadStep, int epoch, TrainingRun run)
    {
        long step = firstBadStep.item<long>();
        if (step >= 0) throw new TrainingDivergedException(epoch, step, run.CheckpointPath is null ? 0 : epoch - 1);
    }

    /// <summary>Mean cross-entropy, accuracy and confusion matrix of <paramref name="network"/> on <paramref name="data"/>.</summary>
    /// <param name="network">The classifier; left in evaluation mode.</param>
    /// <param name="data">Labelled images on the network's device.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <param name="testTime">The views each image is scored on.</param>
    /// <remarks>The number of classes is the network's output width.</remarks>
    public static ValidationResult Evaluate(Sequential network, TensorDataset data, int batchSize = TrainingRun.CpuEvaluationBatchSize,
        TestTimeAugmentation testTime = TestTimeAugmentation.None)
    {
        network.eval();
        using var _ = inference_mode();
        var device = data.Images.device;
        using var lossSum = zeros(1, dtype: ScalarType.Float64, device: device);
        using var predictions = empty(data.Count, dtype: ScalarType.Int64, device: device);
        long classCount = 0;
        for (long start = 0; start < data.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            long size = Math.Min(batchSize, data.Count - start);
            var images = data.Normalized(start, size);
            var labels = data.Labels.narrow(0, start, size);
            var logits = TestTimeViews.Logits(network, images, testTime);
            classCount = logits.shape[1];
            lossSum.add_(nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).to(ScalarType.Float64));
            predictions.narrow(0, start, size).copy_(logits.argmax(1));
        }
        // Counts of (true, predicted) pairs, made on the device and read once.
        long[] counts;
        using (NewDisposeScope())
            counts = (data.Labels * classCount + predictions).bincount(null, classCount * classCount).cpu().data<long>().ToArray();
        int classes = (int)classCount;
        var matrix = Enumerable.Range(0, classes).Select(row => counts.AsSpan(row * classes, classes).ToArray()).ToArray();
        long correct = Enumerable.Range(0, classes).Sum(c => matrix[c][c]);
        return new ValidationResult(lossSum.item<double>() / data.Count, (double)correct / data.Count, matrix);
    }

}
