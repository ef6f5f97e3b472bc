using Cifar.Trainer.Onnx;
using TorchSharp;
using static Cifar.Trainer.Onnx.OnnxGraphBuilder;
using static TorchSharp.torch;

namespace Cifar.Networks;

/// <summary>Maximum over square windows of each channel: [C, H, W] → [C, H', W'].</summary>
/// <param name="KernelSize">Side of the square window.</param>
/// <param name="Stride">Step between windows; null: <paramref name="KernelSize"/> (windows side by side).</param>
[LayerKind(typeof(MaxPool2dKind))]
public sealed record MaxPool2d(int KernelSize, int? Stride = null) : Layer;

internal sealed class MaxPool2dKind : LayerKind<MaxPool2d, MaxPool2dModule>
{
    public override string NamePrefix => "maxpool";

    protected override int[] Output(MaxPool2d m, ShapeCheck check) => check.Pool(m.KernelSize, m.Stride);

    protected override MaxPool2dModule Build(MaxPool2d m, ResolvedLayer at) => new(m.KernelSize, m.Stride ?? m.KernelSize);

    protected override string Export(MaxPool2d m, MaxPool2dModule pool, LayerExport onnx) => onnx.Node("MaxPool", [onnx.Input],
        Ints("kernel_shape", pool.KernelSize),
        Ints("strides", pool.Stride),
        Ints("pads", [0, 0, 0, 0]));
}

/// <summary>
/// A <see cref="MaxPool2d"/> layer's module: libtorch's max-pooling (no padding, floor rounding), with the same values and
/// gradients, taken faster on the CPU. libtorch pools NCHW tensors one window after another but channels-last ones a
/// vector of channels at a time; so on the CPU, for windows that do not overlap, the maxima's positions come from a
/// channels-last copy, the values are gathered from the input at them, and the gradient goes back to them (autograd's
/// backward of the gather): what libtorch's own backward does with its indices. Each input then takes at most one
/// gradient, so nothing is summed and every number type gives libtorch's gradients to the bit; overlapping windows keep
/// libtorch's pooling, and so does a channels-last input (the 16-bit passes' on AVX-512), which libtorch pools fast.
/// </summary>
internal sealed class MaxPool2dModule(int kernelSize, int stride) : nn.Module<Tensor, Tensor>(nameof(MaxPool2dModule))
{
    /// <summary>The window's side, [height, width].</summary>
    public long[] KernelSize { get; } = [kernelSize, kernelSize];

    /// <summary>The step between windows, [height, width].</summary>
    public long[] Stride { get; } = [stride, stride];

    public override Tensor forward(Tensor input)
    {
        if (input.device_type != DeviceType.CPU || input.dim() != 4 || Stride[0] < KernelSize[0] || Cifar.Trainer.Training.ChannelsLast.Has(input))
            return nn.functional.max_pool2d(input, KernelSize, Stride);
        // Its own scope: the channels-last copy goes at once, not at the end of the caller's step.
        using var scope = NewDisposeScope();
        Tensor values, positions;
        using (no_grad())
        {
            (values, positions) = nn.functional.max_pool2d_with_indices(Cifar.Trainer.Training.ChannelsLast.Of(input), KernelSize, Stride);
        }
        if (!(input.requires_grad && is_grad_enabled())) return values.contiguous().MoveToOuterDisposeScope();
        var shape = values.shape;
        return input.flatten(2).gather(2, positions.contiguous().flatten(2)).view(shape).MoveToOuterDisposeScope();
    }
}
