using Cifar.Trainer.Native;
using Cifar.Trainer.Training;

namespace Cifar.MLNet;

/// <summary>What trains: the libtorch in use, its version, and the device a choice resolves to.</summary>
/// <param name="LibtorchVersion">The loaded libtorch's version (e.g. <c>2.10.0</c>), or null when not known.</param>
/// <param name="LibtorchDirectory">The folder it was loaded from, or null when not known.</param>
/// <param name="TorchSharpVersion">The TorchSharp version this library uses.</param>
/// <param name="VersionWarning">A one-line warning when that libtorch is not the version TorchSharp is built for, else null.</param>
/// <param name="CanFlushDenormals">Whether <see cref="TrainingOptions.FlushDenormals"/> takes effect on this platform.</param>
public sealed record TorchRuntimeInfo(string? LibtorchVersion, string? LibtorchDirectory, string TorchSharpVersion,
    string? VersionWarning, bool CanFlushDenormals)
{
    /// <summary>"libtorch 2.10.0 (folder), TorchSharp 0.107.0".</summary>
    public override string ToString() =>
        (LibtorchVersion is null ? "libtorch (folder unknown)" : $"libtorch {LibtorchVersion}" + (LibtorchDirectory is null ? "" : $" ({LibtorchDirectory})"))
        + $", TorchSharp {TorchSharpVersion}";
}

/// <summary>Where and how a run trains, resolved on this machine: what <c>train</c> reports and its result files record.</summary>
/// <param name="Device">The device: <c>cpu</c> or <c>cuda</c>.</param>
/// <param name="Precision">The precision of the training passes, <see cref="TrainingPrecision.Auto"/> resolved.</param>
/// <param name="PrecisionReason">Why that precision (the setting, or what <c>Auto</c> found).</param>
/// <param name="Threads">The threads libtorch computes with on the CPU (its intra-op pool).</param>
public sealed record TrainingSetup(string Device, TrainingPrecision Precision, string PrecisionReason, int Threads)
{
    /// <summary>"device cpu, precision BFloat16 (Auto: …), 2 libtorch threads".</summary>
    public override string ToString() =>
        $"device {Device}, precision {Precision} ({PrecisionReason}), {Threads} libtorch thread{(Threads == 1 ? "" : "s")}";
}

/// <summary>
/// The process's libtorch: where it is loaded from, and which device a <see cref="ComputeDevice"/> choice means.
/// Prediction through a saved model never needs it.
/// </summary>
public static class TorchRuntime
{
    /// <summary>
    /// Loads libtorch from <paramref name="directory"/> (e.g. a PyTorch install's <c>torch/lib</c>, a CUDA build for
    /// the GPU) for everything that trains next. Call it before anything trains, in an app built without a bundled
    /// libtorch (<c>-p:TorchBackend=none</c>).
    /// </summary>
    /// <exception cref="LibtorchLoadException">The folder has no usable libtorch; the message is one line.</exception>
    public static void UseLibraryDirectory(string directory) => Libtorch.UseDirectory(directory);

    /// <summary>
    /// The device, precision and threads <paramref name="training"/> resolves to on this machine. Loads libtorch.
    /// </summary>
    /// <exception cref="InvalidOperationException">CUDA was demanded but libtorch sees no GPU.</exception>
    /// <exception cref="LibtorchLoadException">No usable libtorch; the message says what to do.</exception>
    public static TrainingSetup DescribeTraining(TrainingOptions training)
    {
        var device = DeviceSelector.Resolve(training.Device).type;
        return new TrainingSetup(device.ToString().ToLowerInvariant(), training.PrecisionOn(device), training.PrecisionReason(device),
            TorchSharp.torch.get_num_threads());
    }

    /// <summary>The loaded libtorch (call after <see cref="DescribeTraining"/>, which loads it).</summary>
    public static TorchRuntimeInfo Describe()
    {
        var loaded = Libtorch.Loaded();
        return new TorchRuntimeInfo(loaded?.Version, loaded?.Directory, Libtorch.TorchSharpVersion, loaded?.VersionWarning,
            DenormalFlushing.IsSupported);
    }
}
