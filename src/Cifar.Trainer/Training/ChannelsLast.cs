using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// Channels-last strides (NHWC in memory, NCHW as a shape) without a memory-format API, which TorchSharp 0.107 lacks:
/// libtorch's kernels follow the strides they are given, and each layer's output keeps its input's layout.
/// </summary>
internal static class ChannelsLast
{
    /// <summary>The same values with channels-last strides: permuted to NHWC, made contiguous, permuted back.</summary>
    public static Tensor Of(Tensor x) => x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    /// <summary>
    /// The batch a training step feeds its network: channels-last for 16-bit passes on a GPU, where cuDNN runs them on
    /// tensor cores in NHWC and an NCHW batch costs a transposition at every layer (measured: docs/gpu.md). Unchanged
    /// otherwise: float32 passes on a GPU (the tutorial's) keep the layout they were measured with, and the CPU keeps
    /// NCHW, where oneDNN's convolutions were slower in channels-last (docs/performance.md).
    /// </summary>
    public static Tensor ForTraining(Tensor images, bool sixteenBitPasses) =>
        sixteenBitPasses && images.device_type == DeviceType.CUDA && images.dim() == 4 ? Of(images) : images;
}
