using Cifar.Trainer.Onnx;
using static Cifar.Trainer.Onnx.OnnxGraphBuilder;
using static TorchSharp.torch;

namespace Cifar.Networks;

/// <summary>Mean of each channel over all positions: [C, H, W] → [C].</summary>
[LayerKind(typeof(GlobalAvgPoolKind))]
public sealed record GlobalAvgPool : Layer;

internal sealed class GlobalAvgPoolKind : LayerKind<GlobalAvgPool, GlobalAvgPoolModule>
{
    public override string NamePrefix => "globalpool";

    protected override int[] Output(GlobalAvgPool layer, ShapeCheck check)
    {
        check.Image();
        return [check.Input[0]];
    }

    protected override GlobalAvgPoolModule Build(GlobalAvgPool layer, ResolvedLayer at) => new();

    protected override string Export(GlobalAvgPool layer, GlobalAvgPoolModule module, LayerExport onnx) =>
        onnx.Node("Flatten", [onnx.Node("GlobalAveragePool", [onnx.Input])], Int("axis", 1));
}

/// <summary>Mean of each channel over all positions: [N, C, H, W] → [N, C].</summary>
internal sealed class GlobalAvgPoolModule : nn.Module<Tensor, Tensor>
{
    public GlobalAvgPoolModule() : base(nameof(GlobalAvgPoolModule)) { }

    public override Tensor forward(Tensor input)
    {
        using var pooled = nn.functional.adaptive_avg_pool2d(input, 1);
        return pooled.flatten(1);
    }
}
