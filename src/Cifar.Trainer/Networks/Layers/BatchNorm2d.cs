using Cifar.Trainer.Onnx;
using static Cifar.Trainer.Onnx.OnnxGraphBuilder;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>
/// Batch normalization per channel of a [C, H, W] input, with a learned scale and shift; training uses the
/// batch's statistics and updates running ones, evaluation uses the running ones.
/// </summary>
/// <param name="Momentum">Weight of the newest batch in the running statistics.</param>
/// <param name="Epsilon">Added to the variance before its square root.</param>
/// <param name="TrainScale">Whether the scale is learned; when false it stays 1 and only the shift learns (airbench's).</param>
[LayerKind(typeof(BatchNorm2dKind))]
public sealed record BatchNorm2d(double Momentum = 0.1, double Epsilon = 1e-5, bool TrainScale = true) : Layer;

internal sealed class BatchNorm2dKind : LayerKind<BatchNorm2d, Modules.BatchNorm2d>
{
    public override string NamePrefix => "bn";

    protected override int[] Output(BatchNorm2d b, ShapeCheck check)
    {
        if (!(b.Momentum >= 0 && b.Momentum <= 1)) check.Fail($"Momentum must be in [0, 1] (got {b.Momentum})");
        check.Positive(b.Epsilon, "Epsilon");
        check.Image();
        return check.Input;
    }

    protected override Modules.BatchNorm2d Build(BatchNorm2d b, ResolvedLayer at)
    {
        var norm = nn.BatchNorm2d(at.Input[0], eps: b.Epsilon, momentum: b.Momentum);
        if (!b.TrainScale) norm.weight!.requires_grad = false; // stays at its initial 1
        return norm;
    }

    // Evaluation form: the running statistics, under the state dict's names.
    protected override string Export(BatchNorm2d b, Modules.BatchNorm2d norm, LayerExport onnx) => onnx.Node("BatchNormalization",
    [
        onnx.Input,
        norm.weight is { } scale ? onnx.Weights(".weight", scale) : onnx.Filled("scale", 1f, norm.num_features),
        norm.bias is { } shift ? onnx.Weights(".bias", shift) : onnx.Filled("shift", 0f, norm.num_features),
        onnx.Weights(".running_mean", norm.running_mean!),
        onnx.Weights(".running_var", norm.running_var!),
    ], Float("epsilon", (float)norm.eps));
}
