using Cifar.Networks;
using Cifar.Trainer.Augmentation;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// One training run in progress, set up to its first step: the network and its layers, the optimizer, the 16-bit copy,
/// the data on the device, the generators and the history. Disposing frees everything but the network, which the
/// caller keeps (or disposes when the run fails).
/// </summary>
internal sealed class RunState : IDisposable
{
    // Layers draw their initial weights from libtorch's one process-wide generator: a run started at the same time on
    // another thread must not draw between its seed and its weights.
    internal static readonly object InitialWeightsGate = new();

    private readonly TensorDataset _train;
    private readonly TensorDataset? _validation;
    private readonly Sequential? _working; // the 16-bit copy of mixed precision, until Precision takes it over
    private readonly int _classCount;
    private string? _fingerprint;
    private IDisposable? _inputGradientHooks;

    /// <summary>Seeds libtorch and builds the run's network (and its 16-bit copy); nothing is moved to the device yet.</summary>
    public RunState(Device device, TensorDataset train, TensorDataset? validation, int classCount, TrainingRun run,
        BatchAugmenter? augmenter, TrainingCallbacks? callbacks, CancellationToken cancellation)
    {
        (Device, Run, Augmenter, Callbacks, Cancellation) = (device, run, augmenter, callbacks, cancellation);
        (_train, _validation, TrainData, ValidationData, _classCount) = (train, validation, train, validation, classCount);
        var settings = run.Training;
        lock (InitialWeightsGate)
        {
            random.manual_seed(settings.Seed);
            Network = Architectures.Create(run.Model.Definition, classCount, train.ImageShape);
            if (settings.PassTypeFor(device.type) is not null) _working = Architectures.Create(run.Model.Definition, classCount, train.ImageShape);
        }
        try
        {
            Layers = BuiltLayer.All(NetworkBuilder.Layers(Network, run.Model.Definition, classCount, train.ImageShape)).ToArray();
        }
        catch
        {
            // The caller holds no state yet to dispose.
            Network.Dispose();
            _working?.Dispose();
            throw;
        }
        ShuffleGenerator = new Generator((ulong)settings.Seed);
        AugmentGenerator = new Generator((ulong)settings.Seed + 1);
        BatchCount = BatchCountOf(train.Count, settings.BatchSize);
        TotalSteps = (long)settings.Epochs * BatchCount;
    }

    public Device Device { get; }
    public TrainingRun Run { get; }
    public TrainingOptions Settings => Run.Training;
    public BatchAugmenter? Augmenter { get; }
    public TrainingCallbacks? Callbacks { get; }
    public CancellationToken Cancellation { get; }

    /// <summary>The float32 network the optimizer steps; what the run returns.</summary>
    public Sequential Network { get; }

    /// <summary>The network's layers and their bodies' (<see cref="BuiltLayer.All"/>), for the kinds' hooks.</summary>
    public IReadOnlyList<BuiltLayer> Layers { get; }

    /// <summary>The 16-bit working copy's passes, or null for float32 throughout.</summary>
    public MixedPrecision? Precision { get; private set; }

    /// <summary>Created once the weights are final (<see cref="Prepare"/>).</summary>
    public IStepper Optimizer { get; private set; } = null!;

    /// <summary>The training data on the device.</summary>
    public TensorDataset TrainData { get; private set; }

    /// <summary>The validation data on the device, or null.</summary>
    public TensorDataset? ValidationData { get; private set; }

    /// <summary>Draws the order of the images (on the CPU, so a seed gives the same order on every device).</summary>
    public Generator ShuffleGenerator { get; }

    /// <summary>Draws each epoch's augmentation.</summary>
    public Generator AugmentGenerator { get; }

    public int BatchCount { get; }
    public long TotalSteps { get; }

    /// <summary>What a checkpoint of this run must match (<see cref="Checkpoint.Fingerprint"/>); made when first needed.</summary>
    public string Fingerprint => _fingerprint ??= Checkpoint.Fingerprint(Run, _classCount, _train, Augmenter?.Settings, Device.type);

    public int FirstEpoch { get; private set; } = 1;
    public List<EpochMetrics> History { get; } = [];

    /// <summary>
    /// Brings the run to its first step: the starting weights, the network and data on the device, the data-dependent
    /// layers of a fresh network, the checkpoint's state when resuming, the optimizer, the 16-bit copy.
    /// </summary>
    public void Prepare()
    {
        bool resuming = Run.ResumesFromCheckpoint;
        if (Run.CheckpointPath is not null) _ = Fingerprint; // a run that cannot be checkpointed fails now, not after an epoch
        if (Run.StartingWeights is { } startingWeights) InitialWeights.Load(startingWeights, Network);
        Network.to(Device);
        TrainData = _train.To(Device);
        ValidationData = _validation?.To(Device);
        if (!resuming && Run.StartingWeights is null)
            foreach (var layer in Layers) layer.Layer.Kind.InitializeFromData(layer, TrainData);
        if (resuming)
        {
            // FlatAdam seats the parameters in its flat tensor, and loading a checkpoint into a CUDA module replaces
            // them (TorchSharp loads through the CPU): the optimizer is made after the load, or by it. It is held
            // at once, so Dispose frees it even when loading its state fails.
            var state = Checkpoint.Load(Run.CheckpointPath!, Fingerprint, Network, () => Optimizer = Optimizers.Create(Network, Settings, TotalSteps),
                ShuffleGenerator, AugmentGenerator);
            History.AddRange(state.History);
            FirstEpoch = state.Epoch + 1;
            Callbacks?.Resumed?.Invoke(History.ToArray());
        }
        else Optimizer = Optimizers.Create(Network, Settings, TotalSteps);
        // Last: loading a checkpoint may replace the network's tensors, which the copy holds on to.
        if (Settings.PassTypeFor(Device.type) is { } type) Precision = new MixedPrecision(Network, _working!.to(Device), type, Settings.BatchSize);
        // On the network that runs the passes; until Dispose, so the returned network carries no hooks.
        _inputGradientHooks = FlippedFilterGradient.AttachFor(Settings.InputGradientOn(Device.type), (nn.Module?)Precision ?? Network);
    }

    /// <summary>Lets each layer kind freeze or thaw its weights for <paramref name="epoch"/>.</summary>
    public void StartEpoch(int epoch)
    {
        foreach (var layer in Layers) layer.Layer.Kind.StartEpoch(layer, epoch);
    }

    /// <summary>The batches of an epoch of <paramref name="images"/> images.</summary>
    public static int BatchCountOf(long images, int batchSize) => (int)((images + batchSize - 1) / batchSize);

    /// <inheritdoc />
    public void Dispose()
    {
        _inputGradientHooks?.Dispose();
        if (!ReferenceEquals(TrainData, _train)) TrainData.Dispose();
        if (ValidationData is not null && !ReferenceEquals(ValidationData, _validation)) ValidationData.Dispose();
        Optimizer?.Dispose();
        if (Precision is not null) Precision.Dispose(); // with the copy it holds
        else _working?.Dispose();
        ShuffleGenerator.Dispose();
        AugmentGenerator.Dispose();
    }
}
