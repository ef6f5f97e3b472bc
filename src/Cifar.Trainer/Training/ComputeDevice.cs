using TorchSharp;

namespace Cifar.Trainer.Training;

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

/// <summary>Turns a <see cref="ComputeDevice"/> choice into a TorchSharp device.</summary>
public static class DeviceSelector
{
    /// <summary>Resolves the choice against what libtorch reports now.</summary>
    /// <exception cref="InvalidOperationException">CUDA was demanded but is not available.</exception>
    public static torch.Device Resolve(ComputeDevice choice) => choice switch
    {
        ComputeDevice.Cpu => torch.CPU,
        ComputeDevice.Cuda when torch.cuda.is_available() => torch.CUDA,
        ComputeDevice.Cuda => throw new InvalidOperationException(
            "device 'cuda' was requested but libtorch sees no CUDA GPU (is a CUDA build of libtorch loaded? see docs/gpu.md); use 'auto' or 'cpu'"),
        _ => torch.cuda.is_available() ? torch.CUDA : torch.CPU,
    };
}
