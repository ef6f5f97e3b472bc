namespace Cifar;

/// <summary>The optimizer that updates the weights.</summary>
public enum OptimizerKind
{
    /// <summary>Adam (PyTorch's: weight decay added to the gradient).</summary>
    Adam,
    /// <summary>SGD with momentum 0.9.</summary>
    Sgd,
}

/// <summary>Where training runs.</summary>
public enum ComputeDevice
{
    /// <summary>CUDA when libtorch sees a GPU, else the CPU.</summary>
    Auto,
    /// <summary>Always the CPU.</summary>
    Cpu,
    /// <summary>The first CUDA GPU; an error when there is none.</summary>
    Cuda,
}

/// <summary>
/// How a network trains: the configuration's <c>Training</c> section. Every default is the tutorial's; this record
/// is the one place they are written.
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Training";

    /// <summary>Passes over the training set. Default 15.</summary>
    public int Epochs { get; init; } = 15;

    /// <summary>Images per training step. Default 32.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Optimizer. Default Adam.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;

    /// <summary>Learning rate. Default 0.001.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>L2 weight decay. Default 5e-4.</summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>Shuffle the training set every epoch. Default true.</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Seeds weight initialisation, shuffling and augmentation. Default 1.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// Flush denormal numbers to zero on the threads that train on the CPU: without it, long CPU runs slow down
    /// several-fold on processors that handle denormals in microcode (Intel's) once the optimizer's state decays into
    /// the denormal range (below 1.2e-38; docs/performance.md).
    /// Values that small change no result that matters. x86-64 Linux only. Default true.
    /// </summary>
    public bool FlushDenormals { get; init; } = true;

    /// <summary>Where to train. Default <see cref="ComputeDevice.Auto"/> (a CUDA GPU when libtorch sees one).</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Auto;

    /// <summary>
    /// Images per forward pass when evaluating (changes no result beyond float rounding), or null for the device's
    /// default: 64 on the CPU, where larger batches fall out of the caches and run slower (docs/performance.md), 1,024 on a GPU.
    /// </summary>
    public int? EvaluationBatchSize { get; init; }

    /// <summary>Checks every value.</summary>
    /// <exception cref="OptionsException">A value is out of range; the key is <c>Training:Name</c>.</exception>
    public void Validate() => new OptionChecks(Section)
        .Check(Epochs > 0, nameof(Epochs), "must be greater than 0", Epochs)
        .Check(BatchSize > 0, nameof(BatchSize), "must be greater than 0", BatchSize)
        .Check(Enum.IsDefined(Optimizer), nameof(Optimizer), "must be Adam or Sgd", Optimizer)
        .Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), "must be greater than 0", LearningRate)
        .Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), "must be 0 or more", WeightDecay)
        .Check(Enum.IsDefined(Device), nameof(Device), "must be Auto, Cpu or Cuda", Device)
        .Check(EvaluationBatchSize is null or > 0, nameof(EvaluationBatchSize), "must be greater than 0 (or left out)", EvaluationBatchSize);

    /// <summary>
    /// The options that change what a run computes, for a checkpoint's fingerprint: all but <see cref="Epochs"/>
    /// (a resumed run may train longer), <see cref="Device"/> and <see cref="EvaluationBatchSize"/> (where and how
    /// fast, not what). A new option is covered without an edit here.
    /// </summary>
    internal TrainingOptions ResultDefining => this with { Epochs = 0, Device = ComputeDevice.Auto, EvaluationBatchSize = null };
}
