using Cifar.Trainer.Onnx;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>The Gaussian error linear unit x·Φ(x), element-wise, in its exact (erf) form.</summary>
[LayerKind(typeof(GeluKind))]
public sealed record Gelu : Layer;

internal sealed class GeluKind : LayerKind<Gelu, Modules.GELU>
{
    public override string NamePrefix => "gelu";

    protected override int[] Output(Gelu layer, ShapeCheck check) => check.Input;

    protected override Modules.GELU Build(Gelu layer, ResolvedLayer at) => nn.GELU();

    protected override string Export(Gelu layer, Modules.GELU module, LayerExport onnx)
    {
        // Gelu is an operator only from opset 20: the exact form, 0.5·x·(1 + erf(x/√2)).
        var x = onnx.Input;
        var erf = onnx.Node("Erf", [onnx.Node("Div", [x, onnx.Scalar("sqrt2", MathF.Sqrt(2f))])]);
        var onePlus = onnx.Node("Add", [erf, onnx.Scalar("one", 1f)]);
        return onnx.Node("Mul", [onnx.Node("Mul", [x, onePlus]), onnx.Scalar("half", 0.5f)]);
    }
}
