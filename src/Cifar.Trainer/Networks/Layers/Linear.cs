using Cifar.Trainer.Onnx;
using static Cifar.Trainer.Onnx.OnnxGraphBuilder;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>Fully connected layer on a flat input: [F] → [OutFeatures].</summary>
/// <param name="OutFeatures">Output width; null: the number of classes (the usual last layer).</param>
/// <param name="Bias">Whether the layer adds a learned bias per output.</param>
[LayerKind(typeof(LinearKind))]
public sealed record Linear(int? OutFeatures = null, bool Bias = true) : Layer;

internal sealed class LinearKind : LayerKind<Linear, Modules.Linear>
{
    public override string NamePrefix => "fc";

    protected override int[] Output(Linear l, ShapeCheck check)
    {
        if (check.Input.Length != 1)
            check.Fail($"needs a flat input but gets {NetworkShapes.Shape(check.Input)} (put Flatten or GlobalAvgPool before it)");
        int outFeatures = l.OutFeatures ?? check.ClassCount;
        check.Positive(outFeatures, "OutFeatures");
        return [outFeatures];
    }

    protected override Modules.Linear Build(Linear l, ResolvedLayer at) => nn.Linear(at.Input[0], at.Output[0], hasBias: l.Bias);

    protected override string Export(Linear l, Modules.Linear linear, LayerExport onnx)
    {
        var inputs = new List<string> { onnx.Input, onnx.Weights(".weight", linear.weight!) };
        if (linear.bias is { } bias) inputs.Add(onnx.Weights(".bias", bias));
        return onnx.Node("Gemm", inputs.ToArray(), Int("transB", 1));
    }
}
