using Cifar.Trainer.Onnx;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>During training, zeroes each value with probability <paramref name="Probability"/> and scales the rest by 1/(1 − p); identity in evaluation.</summary>
/// <param name="Probability">The chance of zeroing a value, in [0, 1).</param>
[LayerKind(typeof(DropoutKind))]
public sealed record Dropout(double Probability = 0.5) : Layer;

internal sealed class DropoutKind : LayerKind<Dropout, Modules.Dropout>
{
    public override string NamePrefix => "dropout";

    protected override int[] Output(Dropout d, ShapeCheck check)
    {
        if (!(d.Probability >= 0 && d.Probability < 1)) check.Fail($"Probability must be in [0, 1) (got {d.Probability})");
        return check.Input;
    }

    protected override Modules.Dropout Build(Dropout d, ResolvedLayer at) => nn.Dropout(d.Probability);

    protected override string Export(Dropout d, Modules.Dropout module, LayerExport onnx) => onnx.Input; // identity in evaluation
}
