using Cifar.Networks;
using Cifar.Trainer.Onnx;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Trainer.Tests;

/// <summary>
/// A layer kind the library does not have, added the way a new kind is: this one file, the record and its kind. It
/// proves that naming, shape checks, building, training and ONNX export need no edit elsewhere (LayerKindTests).
/// A kind outside the library has no JSON name (<see cref="Layer"/>'s list is the library's): its networks are written
/// in code and train without checkpoints, whose fingerprint is the network's JSON.
/// </summary>
/// <param name="Beta">PyTorch's softplus sharpness, log(1 + exp(β·x))/β; ONNX's Softplus has none, so only 1 exports.</param>
[LayerKind(typeof(SoftplusKind))]
internal sealed record Softplus(double Beta = 1) : Layer;

internal sealed class SoftplusKind : LayerKind<Softplus, Modules.Softplus>
{
    public override string NamePrefix => "softplus";

    protected override int[] Output(Softplus layer, ShapeCheck check)
    {
        check.Positive(layer.Beta, "Beta");
        return check.Input;
    }

    protected override string? ExportRefusal(Softplus layer) =>
        layer.Beta == 1 ? null : $"Beta must be 1, as ONNX's Softplus has no beta (got {layer.Beta})";

    protected override Modules.Softplus Build(Softplus layer, ResolvedLayer at) => nn.Softplus(layer.Beta);

    protected override string Export(Softplus layer, Modules.Softplus module, LayerExport onnx) => onnx.Node("Softplus", [onnx.Input]);
}
