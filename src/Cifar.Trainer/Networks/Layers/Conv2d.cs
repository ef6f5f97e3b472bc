using Cifar.Trainer.Native;
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

internal sealed class Conv2dKind : LayerKind<Conv2d, Conv2dModule>
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

    protected override Conv2dModule Build(Conv2d c, ResolvedLayer at) => new(at.Input[0], c);

    protected override string Export(Conv2d c, Conv2dModule conv, LayerExport onnx) =>
        onnx.Conv(conv.Weight, conv.Bias, conv.Stride, LayerExport.Pads(conv.Padding), [1, 1], 1);
}

/// <summary>
/// A <see cref="Conv2d"/> layer's module: TorchSharp's <c>Conv2d</c> initialisation and parameter names (<c>weight</c>,
/// <c>bias</c>), its forward pass through <see cref="ChannelPadding"/>, so that the CPU kernels see whole vectors where they
/// need them.
/// </summary>
internal sealed class Conv2dModule : nn.Module<Tensor, Tensor>
{
    private readonly Modules.Parameter weight;
    private readonly Modules.Parameter? bias;

    public Conv2dModule(int inChannels, Conv2d definition) : base(nameof(Conv2dModule))
    {
        // TorchSharp's own layer draws the initial values, so a seed gives the weights it always gave.
        using (var drawn = nn.Conv2d(inChannels, definition.OutChannels, kernel_size: definition.KernelSize, bias: definition.Bias))
        {
            using var drawnWeight = drawn.weight!.detach();
            weight = new Modules.Parameter(drawnWeight.clone());
            if (drawn.bias is { } drawnBias)
            {
                using var detachedBias = drawnBias.detach();
                bias = new Modules.Parameter(detachedBias.clone());
            }
        }
        KernelSize = definition.KernelSize;
        Stride = [definition.Stride, definition.Stride];
        Padding = [definition.Padding, definition.Padding];
        if (definition.IdentityInit)
        {
            // dirac_ on the first filters: filter i passes input channel i through its window's centre.
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            int identities = Math.Min(inChannels, definition.OutChannels), centre = definition.KernelSize / 2;
            weight.narrow(0, 0, identities).zero_();
            for (int i = 0; i < identities; i++) weight[i, i, centre, centre] = 1f;
        }
        RegisterComponents();
    }

    /// <summary>The filters, [out channels, in channels, k, k].</summary>
    public Modules.Parameter Weight => weight;

    /// <summary>The bias per filter, or null.</summary>
    public Modules.Parameter? Bias => bias;

    /// <summary>The window's side.</summary>
    public int KernelSize { get; }

    /// <summary>The step between windows, [height, width].</summary>
    public long[] Stride { get; }

    /// <summary>Zeros on each side, [height, width].</summary>
    public long[] Padding { get; }

    public override Tensor forward(Tensor input) => ChannelPadding.Conv2d(input, weight, bias, Stride, Padding);
}
