using Cifar.Trainer.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>Which precision a run's passes compute in on a device, and why: <see cref="TrainingOptions.Precision"/> resolved.</summary>
internal static class TrainingPrecisions
{
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
        TrainingPrecision.Auto when CpuFeatures.ProcessorHasBFloat16 => $"Auto: float32, as oneDNN is limited to {OneDnnIsa.Chosen} here, without its bfloat16 kernels",
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
