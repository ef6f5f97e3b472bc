using Cifar.Trainer.Onnx;
using static Cifar.Trainer.Onnx.OnnxGraphBuilder;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>[C, H, W] → [C·H·W]; a flat input stays as it is.</summary>
[LayerKind(typeof(FlattenKind))]
public sealed record Flatten : Layer;

internal sealed class FlattenKind : LayerKind<Flatten, Modules.Flatten>
{
    public override string NamePrefix => "flatten";

    protected override int[] Output(Flatten layer, ShapeCheck check) => [check.Input.Aggregate(1, (a, b) => a * b)];

    protected override Modules.Flatten Build(Flatten layer, ResolvedLayer at) => nn.Flatten();

    protected override string Export(Flatten layer, Modules.Flatten module, LayerExport onnx) => onnx.Node("Flatten", [onnx.Input], Int("axis", 1));
}
