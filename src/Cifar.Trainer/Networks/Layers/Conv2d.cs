using Cifar.Trainer.Onnx;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>2-D convolution over square windows: [C, H, W] → [OutChannels, H', W'].</summary>
/// <param name="OutChannels">Output channels (filters).</param>
/// <param name="KernelSize">Side of the square window.</param>
/// <param name="Stride">Step between windows.</param>
/// <param name="Padding">Zeros added on each side of both spatial dimensions.</param>
/// <param name="Bias">Whether the layer adds a learned bias per output channel.</param>
/// <param name="IdentityInit">
/// Whether the first filters (as many as input channels) start as the identity (a centred 1, as PyTorch's
/// <c>dirac_</c>) instead of random, so the layer starts by passing its input on (airbench's convolutions).
/// </param>
[LayerKind(typeof(Conv2dKind))]
public sealed record Conv2d(int OutChannels, int KernelSize, int Stride = 1, int Padding = 0, bool Bias = true,
    bool IdentityInit = false) : Layer;

internal sealed class Conv2dKind : LayerKind<Conv2d, Modules.Conv2d>
{
    public override string NamePrefix => "conv";

    protected override int[] Output(Conv2d c, ShapeCheck check)
    {
        check.Positive(c.OutChannels, "OutChannels");
        check.Positive(c.KernelSize, "KernelSize");
        check.Positive(c.Stride, "Stride");
        if (c.Padding < 0) check.Fail($"Padding must be 0 or more (got {c.Padding})");
        check.Image();
        return [c.OutChannels, .. check.Window(c.KernelSize, c.Stride, c.Padding)];
    }

    protected override Modules.Conv2d Build(Conv2d c, ResolvedLayer at)
    {
        int inChannels = at.Input[0];
        var conv = nn.Conv2d(inChannels, c.OutChannels, kernel_size: c.KernelSize, stride: c.Stride, padding: c.Padding, bias: c.Bias);
        if (c.IdentityInit)
        {
            // dirac_ on the first filters: filter i passes input channel i through its window's centre.
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            int identities = Math.Min(inChannels, c.OutChannels), centre = c.KernelSize / 2;
            conv.weight!.narrow(0, 0, identities).zero_();
            for (int i = 0; i < identities; i++) conv.weight[i, i, centre, centre] = 1f;
        }
        return conv;
    }

    protected override string Export(Conv2d c, Modules.Conv2d conv, LayerExport onnx) =>
        onnx.Conv(conv.weight!, conv.bias, conv.stride, LayerExport.Pads(conv.padding), conv.dilation, conv.groups);
}
