using TorchSharp;

namespace Cifar.Trainer.Training;

/// <summary>One run of <see cref="CnnTrainer"/>: the recipe's options plus where its checkpoint goes.</summary>
internal sealed record TrainingRun
{
    /// <summary>The network and its initial weights.</summary>
    public ModelOptions Model { get; init; } = new();

    /// <summary>The hyper-parameters.</summary>
    public TrainingOptions Training { get; init; } = new();

    /// <summary>File to write a checkpoint to after every epoch, or null for none.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Continue from the checkpoint at <see cref="CheckpointPath"/> when there is one.</summary>
    public bool Resume { get; init; }

    /// <summary>Whether the run continues from an existing checkpoint, whose weights then replace any initial weights.</summary>
    internal bool ResumesFromCheckpoint => Resume && CheckpointPath is { } path && File.Exists(path);

    /// <summary>The weights the network starts from: <see cref="ModelOptions.InitialWeights"/>, unless the run resumes.</summary>
    internal string? StartingWeights => ResumesFromCheckpoint ? null : Model.InitialWeights;

    /// <summary>The CPU's default evaluation batch (see <see cref="TrainingOptions.EvaluationBatchSize"/>).</summary>
    public const int CpuEvaluationBatchSize = 64;
}

internal static class TrainingOptionsExtensions
{
    /// <summary><see cref="TrainingOptions.EvaluationBatchSize"/>, or the default for <paramref name="device"/>.</summary>
    public static int EvaluationBatchSizeFor(this TrainingOptions options, DeviceType device) =>
        options.EvaluationBatchSize ?? (device == DeviceType.CPU ? TrainingRun.CpuEvaluationBatchSize : 1024);
}
