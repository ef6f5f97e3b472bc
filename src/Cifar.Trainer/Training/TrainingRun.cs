using Cifar.Trainer.Native;
using TorchSharp;
using static TorchSharp.torch;

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

    /// <summary>
    /// <see cref="TrainingOptions.Precision"/> as it applies on <paramref name="device"/>: <see cref="TrainingPrecision.Auto"/> is
    /// float16 on a GPU, bfloat16 on a CPU that computes in it natively (<see cref="CpuFeatures.HasBFloat16"/>), else float32.
    /// </summary>
    public static TrainingPrecision PrecisionOn(this TrainingOptions options, DeviceType device) => options.Precision switch
    {
        TrainingPrecision.Auto when device != DeviceType.CPU => TrainingPrecision.Float16,
        TrainingPrecision.Auto => CpuFeatures.HasBFloat16 ? TrainingPrecision.BFloat16 : TrainingPrecision.Float32,
        var chosen => chosen,
    };

    /// <summary>Why <see cref="PrecisionOn"/> gives what it gives on <paramref name="device"/>, for the run's report.</summary>
    public static string PrecisionReason(this TrainingOptions options, DeviceType device) => options.Precision switch
    {
        TrainingPrecision.Auto when device != DeviceType.CPU => "Auto: float16 on a GPU",
        TrainingPrecision.Auto when CpuFeatures.HasBFloat16 => "Auto: this processor computes in bfloat16 natively",
        TrainingPrecision.Auto => "Auto: this processor has no native bfloat16 (AVX-512 BF16 or AMX-BF16), where float32 is faster",
        _ => $"Training:Precision is {options.Precision}",
    };

    /// <summary>The 16-bit type of the training passes on <paramref name="device"/>, or null for float32 throughout.</summary>
    public static ScalarType? PassTypeFor(this TrainingOptions options, DeviceType device) => options.PrecisionOn(device) switch
    {
        TrainingPrecision.BFloat16 => ScalarType.BFloat16,
        TrainingPrecision.Float16 => ScalarType.Float16,
        _ => null,
    };
}
