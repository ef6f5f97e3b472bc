using System.Diagnostics;
using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Native;
using Cifar.Networks;
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
    internal TrainedNetwork(Sequential network, NetworkDefinition definition, Device device, IReadOnlyList<EpochMetrics> history,
        ValidationResult? finalValidation, TestTimeAugmentation testTimeAugmentation)
    {
        Network = network;
        Definition = definition;
        TestTimeAugmentation = testTimeAugmentation;
        Device = device;
        History = history;
        FinalValidation = finalValidation;
    }

    /// <summary>The network, in evaluation mode.</summary>
    public Sequential Network { get; }

    /// <summary>What <see cref="Network"/> was built from (for its export, layer by layer).</summary>
    public NetworkDefinition Definition { get; }

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
    /// then evaluate on <paramref name="validation"/> (when given, after the epochs that
    /// <see cref="TrainingOptions.ValidationInterval"/> names and the last), report the epoch and write a
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
    /// <exception cref="Cifar.Networks.NetworkDefinitionException">
    /// A layer cannot be built or exported, before anything is trained (<see cref="Cifar.Networks.NetworkDefinition.Check"/>).
    /// </exception>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite.</exception>
    /// <exception cref="CpuKernelsWrongException">libtorch's CPU convolutions compute wrong results on this machine (checked before a CPU run).</exception>
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
        if (device.type == DeviceType.CPU) CpuKernelCheck.ThrowIfWrong(run.Training.PassTypeFor(DeviceType.CPU));
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
        using var state = new RunState(device, train, validation, classCount, run, augmenter, callbacks, cancellation);
        ValidationResult? validationResult = null;
        try
        {
            state.Prepare();
            for (int epoch = state.FirstEpoch; epoch <= run.Training.Epochs; epoch++)
                validationResult = RunEpoch(state, epoch);
            // The final validation scores as the saved model will: in float32, with the test-time views.
            if (run.Model.TestTimeAugmentation != TestTimeAugmentation.None && validationResult is not null)
                validationResult = Evaluate(state.Network, state.ValidationData!, run.Training.EvaluationBatchSizeFor(device.type), run.Model.TestTimeAugmentation);
        }
        catch
        {
            state.Network.Dispose();
            throw;
        }
        state.Network.eval();
        return new TrainedNetwork(state.Network, run.Model.Definition, device, state.History, validationResult, run.Model.TestTimeAugmentation);
    }

    /// <summary>
    /// Trains one epoch, validates (where <see cref="TrainingOptions.ValidationInterval"/> says so, and after the last),
    /// records and reports it; returns the validation (null without validation data or where the interval skips it).
    /// </summary>
    private static ValidationResult? RunEpoch(RunState state, int epoch)
    {
        var clock = Stopwatch.StartNew();
        state.StartEpoch(epoch);
        var (trainLoss, trainAccuracy) = TrainOneEpoch(state, epoch);
        double trainSeconds = clock.Elapsed.TotalSeconds;
        bool validates = state.Settings.Validates(epoch);
        // In float32 on the network itself: what the saved model scores (and, at the CPU's small evaluation
        // batches, no slower than the 16-bit copy).
        var validationResult = state.ValidationData is null || !validates
            ? null
            : Evaluate(state.Network, state.ValidationData, state.Settings.EvaluationBatchSizeFor(state.Device.type));
        var metrics = new EpochMetrics(epoch, trainLoss, trainAccuracy,
            validationResult?.Loss, validationResult?.Accuracy, clock.Elapsed.TotalSeconds) { TrainSeconds = trainSeconds };
        state.History.Add(metrics);
        if (state.Run.CheckpointPath is { } path)
            Checkpoint.Save(path, epoch, state.History, state.Fingerprint, state.Network, state.Optimizer, state.ShuffleGenerator, state.AugmentGenerator);
        state.Callbacks?.EpochCompleted?.Invoke(metrics);
        return validationResult;
    }

    /// <summary>
    /// Checks, before any data is read, that the run's network builds for <paramref name="classCount"/> classes and images
    /// of <paramref name="inputShape"/> ([C, H, W]; null: 3×32×32), and that the weights it starts from fit it, so a wrong
    /// network fails in a second rather than after the data is loaded.
    /// </summary>
    /// <exception cref="Cifar.Networks.NetworkDefinitionException">A layer cannot be built or exported; the message names it.</exception>
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
        lock (RunState.InitialWeightsGate)
        {
            using var network = Architectures.Create(run.Model.Definition, classCount, inputShape);
            return InitialWeights.Load(path, network) is { } head
                ? $"fine-tuning: every layer from {path} but the head, which starts fresh (layer {head})"
                : null;
        }
    }

    /// <summary>Steps between the (cheap, rare) host reads that check for a non-finite loss.</summary>
    private const int FiniteCheckInterval = 50;

    /// <summary>Steps the optimizer through one epoch's batches; returns the epoch's mean loss and accuracy.</summary>
    private static (double Loss, double Accuracy) TrainOneEpoch(RunState state, int epoch)
    {
        state.Network.train();
        state.Precision?.train();
        var (settings, data) = (state.Settings, state.TrainData);
        long count = data.Count;
        long firstStep = (long)(epoch - 1) * state.BatchCount;
        // Drawn on the CPU generator so a seed gives the same order on every device.
        using var permutation = settings.Shuffle ? randperm(count, generator: state.ShuffleGenerator) : arange(count);
        using var order = permutation.to(data.Images.device);
        using var totals = new EpochTotals(data.Images.device);
        // The epoch's augmentation parameters, drawn at once (the tensors sent to the device once).
        using var draws = state.Augmenter?.DrawEpoch(count, settings.BatchSize, epoch, (ulong)settings.Seed + 2, state.AugmentGenerator, data.Images.device);
        for (int batch = 0; batch < state.BatchCount; batch++)
        {
            state.Cancellation.ThrowIfCancellationRequested();
            if (batch % FiniteCheckInterval == 0) totals.ThrowIfDiverged(epoch, state.Run);
            using (NewDisposeScope())
            {
                long start = (long)batch * settings.BatchSize;
                var indices = order.narrow(0, start, Math.Min(settings.BatchSize, count - start));
                var images = TrainingBatch(data, indices, state.Augmenter, draws, start);
                TrainStep(state, images, data.Labels.index_select(0, indices), firstStep + batch, totals);
            }
            state.Callbacks?.BatchCompleted?.Invoke(new BatchProgress(epoch, batch + 1, state.BatchCount));
        }
        totals.ThrowIfDiverged(epoch, state.Run);
        return totals.Means(count);
    }

    /// <summary>One optimizer step on a batch (through the 16-bit copy with mixed precision); adds it to <paramref name="totals"/>.</summary>
    private static void TrainStep(RunState state, Tensor images, Tensor labels, long step, EpochTotals totals)
    {
        var precision = state.Precision;
        precision?.LoadFromMaster();
        var logits = ((nn.Module<Tensor, Tensor>?)precision ?? state.Network).forward(ChannelsLast.ForTraining(images, sixteenBitPasses: precision is not null));
        var loss = Loss(logits, labels, state.Settings.LabelSmoothing);
        state.Optimizer.ZeroGrad();
        (precision?.Scaled(loss) ?? loss).backward();
        precision?.StoreInMaster();
        state.Optimizer.Step(state.Settings.Schedule.Factor(step, state.TotalSteps));
        totals.Add(loss, logits, labels);
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
    internal static Tensor Loss(Tensor logits, Tensor labels, double labelSmoothing)
    {
        if (labelSmoothing == 0) return nn.functional.cross_entropy(logits, labels);
        var logProbabilities = logits.log_softmax(1);
        var trueClass = -logProbabilities.gather(1, labels.unsqueeze(1)).squeeze(1);
        var uniform = -logProbabilities.mean(new long[] { 1 });
        return (trueClass * (1 - labelSmoothing) + uniform * labelSmoothing).mean();
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

/// <summary>
/// An epoch's loss and accuracy sums and its first non-finite step, kept on the device and read once per epoch (or at
/// the rare divergence checks): no host sync per step.
/// </summary>
internal sealed class EpochTotals(Device device) : IDisposable
{
    private readonly Tensor _lossSum = zeros(1, dtype: ScalarType.Float64, device: device);
    private readonly Tensor _correct = zeros(1, dtype: ScalarType.Int64, device: device);
    // The 1-based step of the epoch whose loss was first not finite (−1: none yet).
    private readonly Tensor _firstBadStep = full(1, -1L, dtype: ScalarType.Int64, device: device);
    private long _steps;

    /// <summary>Adds a batch's mean <paramref name="loss"/> and its correct predictions.</summary>
    public void Add(Tensor loss, Tensor logits, Tensor labels)
    {
        _steps++;
        _lossSum.add_(loss.detach().to(ScalarType.Float64) * labels.shape[0]);
        _correct.add_(logits.argmax(1).eq(labels).sum());
        // masked_fill takes the step as a scalar argument: no host-to-device copy, no sync.
        _firstBadStep.masked_fill_(loss.detach().isfinite().logical_not().logical_and(_firstBadStep.lt(0)), _steps);
    }

    /// <summary>Throws when a step's loss was not finite.</summary>
    public void ThrowIfDiverged(int epoch, TrainingRun run)
    {
        long step = _firstBadStep.item<long>();
        if (step >= 0) throw new TrainingDivergedException(epoch, step, run.CheckpointPath is null ? 0 : epoch - 1);
    }

    /// <summary>The mean loss and accuracy over <paramref name="images"/> images.</summary>
    public (double Loss, double Accuracy) Means(long images) => (_lossSum.item<double>() / images, (double)_correct.item<long>() / images);

    public void Dispose()
    {
        _lossSum.Dispose();
        _correct.Dispose();
        _firstBadStep.Dispose();
    }
}
