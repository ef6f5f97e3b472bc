using Cifar.Trainer.Native;
using TorchSharp;

namespace Cifar.Trainer.Training;

/// <summary>Turns a <see cref="ComputeDevice"/> choice into a TorchSharp device.</summary>
internal static class DeviceSelector
{
    /// <summary>Resolves the choice against what libtorch reports now (the first call loads libtorch).</summary>
    /// <exception cref="InvalidOperationException">CUDA was demanded but is not available.</exception>
    /// <exception cref="LibtorchLoadException">No usable libtorch: the message says what to do, in one line.</exception>
    public static torch.Device Resolve(ComputeDevice choice)
    {
        Libtorch.ThrowIfNoneAvailable();
        try
        {
            return choice switch
            {
                ComputeDevice.Cpu => torch.CPU,
                ComputeDevice.Cuda when torch.cuda.is_available() => torch.CUDA,
                ComputeDevice.Cuda => throw new InvalidOperationException(
                    "device 'cuda' was requested but libtorch sees no CUDA GPU (is a CUDA build of libtorch loaded? see docs/gpu.md); use 'auto' or 'cpu'"),
                _ => torch.cuda.is_available() ? torch.CUDA : torch.CPU,
            };
        }
        catch (Exception e) when (e.GetBaseException() is NotSupportedException { Message: var message } && message.Contains("libtorch", StringComparison.Ordinal))
        {
            // TorchSharp's own message is a page long; the gist and the ways out fit on one line.
            throw new LibtorchLoadException(
                $"TorchSharp {Libtorch.TorchSharpVersion} found no libtorch {Libtorch.ExpectedVersion}: this app carries none (built with TorchBackend=none?); " +
                "build with the default TorchBackend=cpu or TorchBackend=cuda, or give a libtorch folder (Torch:LibraryPath, see docs/gpu.md)");
        }
    }
}
