using Cifar.Trainer.Networks;
using Cifar.Trainer.Training;
using Microsoft.ML;

namespace Cifar.MLNet;

/// <summary>
/// Options of <see cref="CifarCnnEstimator"/>, laid out as ML.NET's trainer options. Every default
/// is the tutorial's: SeedCnn, Adam, learning rate 0.001, weight decay 5e-4, batch 32, 15 epochs,
/// shuffled, seed 1, GPU when there is one.
/// </summary>
public sealed class CifarCnnOptions
{
    /// <summary>Column of normalized images, 3072 floats channels first. Default <c>Features</c>.</summary>
    public string FeatureColumnName { get; set; } = CifarColumns.Features;

    /// <summary>Key-typed label column; its key values are the class names. Default <c>Label</c>.</summary>
    public string LabelColumnName { get; set; } = CifarColumns.Label;

    /// <summary>Network architecture by name. Default <c>SeedCnn</c>.</summary>
    public string Architecture { get; set; } = SeedCnn.Name;

    /// <summary>Passes over the training data. Default 15.</summary>
    public int Epochs { get; set; } = 15;

    /// <summary>Images per optimizer step. Default 32.</summary>
    public int BatchSize { get; set; } = 32;

    /// <summary>Optimizer. Default <see cref="OptimizerKind.Adam"/>.</summary>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Adam;

    /// <summary>Learning rate. Default 0.001.</summary>
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>L2 weight decay. Default 5e-4.</summary>
    public double WeightDecay { get; set; } = 5e-4;

    /// <summary>Reshuffle the training data every epoch. Default true.</summary>
    public bool Shuffle { get; set; } = true;

    /// <summary>Seeds initialisation, shuffling and augmentation. Default 1.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>
    /// Flush denormal numbers to zero on the threads that train on the CPU. Without it, long CPU runs slow
    /// down tenfold on Intel processors once the optimizer's state decays into the denormal range (below
    /// 1.2e-38). Recorded in the checkpoint, so a resumed run keeps it. Default true.
    /// </summary>
    public bool FlushDenormals { get; set; } = true;

    /// <summary>Where to train: auto (CUDA if available), cpu or cuda. Default auto.</summary>
    public ComputeDevice Device { get; set; } = ComputeDevice.Auto;

    /// <summary>
    /// Data evaluated after every epoch, or null. Either raw split data (then it goes through the
    /// same Cifar stages as the training data, augmentation excepted) or data that already has the
    /// feature column.
    /// </summary>
    public IDataView? ValidationSet { get; set; }

    /// <summary>Called after every epoch with its metrics.</summary>
    public Action<EpochMetrics>? EpochCompleted { get; set; }

    /// <summary>Called after every training batch (for progress bars).</summary>
    public Action<BatchProgress>? BatchCompleted { get; set; }

    /// <summary>Called once when <c>Fit</c> resumes from a checkpoint, with the epochs done before.</summary>
    public Action<IReadOnlyList<EpochMetrics>>? Resumed { get; set; }

    /// <summary>Stops training between batches; <c>Fit</c> then throws <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>
    /// File to write a checkpoint to after every epoch (weights, optimizer and random states,
    /// history), atomically; null (default) for none.
    /// </summary>
    public string? CheckpointPath { get; set; }

    /// <summary>
    /// Continue from <see cref="CheckpointPath"/> when it exists: the result equals, bit for bit on
    /// the CPU, an uninterrupted run with the same settings. Default false.
    /// </summary>
    public bool Resume { get; set; }

    /// <summary>Checks every value; the message names the option and what is wrong.</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Check(!string.IsNullOrWhiteSpace(FeatureColumnName), "FeatureColumnName must not be empty");
        Check(!string.IsNullOrWhiteSpace(LabelColumnName), "LabelColumnName must not be empty");
        Check(Architectures.IsKnown(Architecture), $"Architecture '{Architecture}' is unknown (known: {string.Join(", ", Architectures.Names)})");
        Check(Epochs > 0, $"Epochs must be greater than 0 (got {Epochs})");
        Check(BatchSize > 0, $"BatchSize must be greater than 0 (got {BatchSize})");
        Check(Enum.IsDefined(Optimizer), $"Optimizer {Optimizer} is unknown");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), $"LearningRate must be a number greater than 0 (got {LearningRate})");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), $"WeightDecay must be 0 or more (got {WeightDecay})");
        Check(Enum.IsDefined(Device), $"Device {Device} is unknown");
        Check(!Resume || CheckpointPath is not null, "Resume needs a CheckpointPath");
    }

    internal TrainingSettings ToTrainingSettings() => new()
    {
        Architecture = Architecture,
        Epochs = Epochs,
        BatchSize = BatchSize,
        Optimizer = Optimizer,
        LearningRate = LearningRate,
        WeightDecay = WeightDecay,
        Shuffle = Shuffle,
        Seed = Seed,
        FlushDenormals = FlushDenormals,
        Device = Device,
        CheckpointPath = CheckpointPath,
        Resume = Resume,
    };
}
