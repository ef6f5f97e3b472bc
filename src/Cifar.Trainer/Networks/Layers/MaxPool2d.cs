using Cifar.Trainer.Onnx;
using static Cifar.Trainer.Onnx.OnnxGraphBuilder;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>Maximum over square windows of each channel: [C, H, W] → [C, H', W'].</summary>
/// <param name="KernelSize">Side of the square window.</param>
/// <param name="Stride">Step between windows; null: <paramref name="KernelSize"/> (windows side by side).</param>
[LayerKind(typeof(MaxPool2dKind))]
public sealed record MaxPool2d(int KernelSize, int? Stride = null) : Layer;

internal sealed class MaxPool2dKind : LayerKind<MaxPool2d, Modules.MaxPool2d>
{
    public override string NamePrefix => "maxpool";

    protected override int[] Output(MaxPool2d m, ShapeCheck check) => check.Pool(m.KernelSize, m.Stride);

    protected override Modules.MaxPool2d Build(MaxPool2d m, ResolvedLayer at) => nn.MaxPool2d(kernel_size: m.KernelSize, stride: m.Stride);

    protected override string Export(MaxPool2d m, Modules.MaxPool2d pool, LayerExport onnx) => onnx.Node("MaxPool", [onnx.Input],
        Ints("kernel_shape", pool.kernel_size),
        Ints("strides", pool.stride ?? pool.kernel_size),
        Ints("pads", LayerExport.Pads(pool.padding)));
}
