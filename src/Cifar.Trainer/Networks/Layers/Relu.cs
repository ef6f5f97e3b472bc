using Cifar.Trainer.Onnx;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>max(0, x), element-wise.</summary>
[LayerKind(typeof(ReluKind))]
public sealed record Relu : Layer;

internal sealed class ReluKind : LayerKind<Relu, Modules.ReLU>
{
    public override string NamePrefix => "relu";

    protected override int[] Output(Relu layer, ShapeCheck check) => check.Input;

    protected override Modules.ReLU Build(Relu layer, ResolvedLayer at) => nn.ReLU();

    protected override string Export(Relu layer, Modules.ReLU module, LayerExport onnx) => onnx.Node("Relu", [onnx.Input]);
}
