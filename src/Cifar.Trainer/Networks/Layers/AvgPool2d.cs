using Cifar.Trainer.Onnx;
using static Cifar.Trainer.Onnx.OnnxGraphBuilder;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>Mean over square windows of each channel: [C, H, W] → [C, H', W'].</summary>
/// <param name="KernelSize">Side of the square window.</param>
/// <param name="Stride">Step between windows; null: <paramref name="KernelSize"/> (windows side by side).</param>
[LayerKind(typeof(AvgPool2dKind))]
public sealed record AvgPool2d(int KernelSize, int? Stride = null) : Layer;

internal sealed class AvgPool2dKind : LayerKind<AvgPool2d, Modules.AvgPool2d>
{
    public override string NamePrefix => "avgpool";

    protected override int[] Output(AvgPool2d a, ShapeCheck check) => check.Pool(a.KernelSize, a.Stride);

    // No padding, floor rounding and no divisor override: what ONNX's AveragePool computes.
    protected override Modules.AvgPool2d Build(AvgPool2d a, ResolvedLayer at) => nn.AvgPool2d(kernel_size: a.KernelSize, stride: a.Stride);

    protected override string Export(AvgPool2d a, Modules.AvgPool2d pool, LayerExport onnx) => onnx.Node("AveragePool", [onnx.Input],
        Ints("kernel_shape", pool.kernel_size),
        Ints("strides", pool.stride ?? pool.kernel_size),
        Ints("pads", LayerExport.Pads(pool.padding)),
        Int("count_include_pad", pool.count_include_pad ? 1 : 0));
}
