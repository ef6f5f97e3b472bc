using Cifar.Trainer.Onnx;
using static TorchSharp.torch;

namespace Cifar.Networks;

/// <summary>Multiplies by a constant: <c>x · Factor</c> (airbench's scaled head).</summary>
/// <param name="Factor">The constant, finite.</param>
[LayerKind(typeof(ScaleKind))]
public sealed record Scale(double Factor) : Layer;

internal sealed class ScaleKind : LayerKind<Scale, ScaleModule>
{
    public override string NamePrefix => "scale";

    protected override int[] Output(Scale s, ShapeCheck check)
    {
        if (!double.IsFinite(s.Factor)) check.Fail($"Factor must be a finite number (got {s.Factor})");
        return check.Input;
    }

    protected override ScaleModule Build(Scale s, ResolvedLayer at) => new(s.Factor);

    protected override string Export(Scale s, ScaleModule module, LayerExport onnx) =>
        onnx.Node("Mul", [onnx.Input, onnx.Scalar("factor", (float)module.Factor)]);
}

/// <summary>x · factor.</summary>
internal sealed class ScaleModule(double factor) : nn.Module<Tensor, Tensor>(nameof(ScaleModule))
{
    public double Factor { get; } = factor;

    public override Tensor forward(Tensor input) => input * Factor;
}
