using TorchSharp;

namespace Cifar.Trainer.Training;

/// <summary>The optimizer that updates the weights.</summary>
public enum OptimizerKind
{
    /// <summary>Adam (PyTorch's: weight decay added to the gradient).</summary>
    Adam,
    /// <summary>SGD with momentum 0.9.</summary>
    Sgd,
}

/// <summary>
/// How <see cref="CnnTrainer"/> trains. Defaults are the tutorial's. The trainer trusts these
/// values: callers validate them (see Cifar.MLNet's CifarCnnOptions).
/// </summary>
public sealed record TrainingSettings
{
    /// <summary>Network name (see <see cref="Networks.Architectures"/>). Default SeedCnn.</summary>
    public string Architecture { get; init; } = Networks.SeedCnn.Name;

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
    /// Flush denormal numbers to zero on the threads that train on the CPU (see <see cref="Native.DenormalFlushing"/>):
    /// without it, long CPU runs slow down tenfold on Intel processors once the optimizer's state decays into
    /// the denormal range. Values that small change no result that matters. Default true.
    /// </summary>
    public bool FlushDenormals { get; init; } = true;

    /// <summary>Where to train. Default <see cref="ComputeDevice.Auto"/>.</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Auto;

    /// <summary>
    /// Images per forward pass when evaluating (does not change results beyond float rounding), or null
    /// for the device's default: 64 on the CPU (larger batches fall out of the caches and run slower
    /// there: 0.50 s per 1,000 images at 64, 0.86 s at 500 on the 2-core reference machine), 1,024 on a GPU.
    /// </summary>
    public int? EvaluationBatchSize { get; init; }

    /// <summary><see cref="EvaluationBatchSize"/>, or the default for <paramref name="device"/>.</summary>
    public int EvaluationBatchSizeFor(DeviceType device) =>
        EvaluationBatchSize ?? (device == DeviceType.CPU ? CpuEvaluationBatchSize : 1024);

    /// <summary>The CPU's default <see cref="EvaluationBatchSize"/>.</summary>
    public const int CpuEvaluationBatchSize = 64;

    /// <summary>File to write a checkpoint to after every epoch, or null for none.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Continue from the checkpoint at <see cref="CheckpointPath"/> when there is one.</summary>
    public bool Resume { get; init; }
}
