using Cifar.Trainer.Native;
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
    /// Whether a 4-D tensor of more than one channel has channels-last strides (its channels adjacent in memory; true of
    /// both layouts where each channel holds one value).
    /// </summary>
    public static bool Has(Tensor x) => x.dim() == 4 && x.shape[1] > 1 && x.stride(1) == 1;

    /// <summary>
    /// The batch a training step feeds its network: channels-last for 16-bit passes on a GPU, where cuDNN runs them on
    /// tensor cores in NHWC and an NCHW batch costs a transposition at every layer (measured: docs/gpu.md), and on a CPU
    /// where oneDNN may use AVX-512, whose bfloat16 convolutions and max-pools run faster in NHWC (the fast recipe's step
    /// 15 % shorter on a Zen 5 in bfloat16: docs/performance.md; other AVX-512 processors are not measured). Unchanged
    /// otherwise: float32 passes (the tutorial's) keep the layout they were measured with, and under AVX oneDNN's
    /// convolutions were slower in channels-last.
    /// </summary>
    public static Tensor ForTraining(Tensor images, bool sixteenBitPasses) => ForTraining(images, sixteenBitPasses, OneDnnIsa.MayUseAvx512);

    /// <summary><see cref="ForTraining(Tensor, bool)"/> where oneDNN may use AVX-512 or not.</summary>
    internal static Tensor ForTraining(Tensor images, bool sixteenBitPasses, bool avx512) =>
        sixteenBitPasses && images.dim() == 4 && (images.device_type == DeviceType.CUDA || images.device_type == DeviceType.CPU && avx512)
            ? Of(images) : images;
}
