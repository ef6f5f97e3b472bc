using Cifar.Networks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using D = Cifar.Networks;

namespace Cifar.Trainer.Networks;

/// <summary>Builds the TorchSharp network a checked <see cref="NetworkDefinition"/> describes.</summary>
internal static class NetworkBuilder
{
    /// <summary>
    /// A freshly initialised network whose children carry the definition's layer names, so its state-dict keys are
    /// those names plus <c>.weight</c>, <c>.bias</c> … The layers are created in definition order, each with the
    /// arguments TorchSharp's own constructors take, so a seed gives the same weights as the hand-written network.
    /// </summary>
    /// <exception cref="NetworkDefinitionException">The definition does not check (<see cref="NetworkDefinition.Check"/>).</exception>
    public static Sequential Build(NetworkDefinition definition, int classCount, IReadOnlyList<int>? inputShape = null)
    {
        var layers = NetworkShapes.Resolve(definition, classCount, inputShape);
        return nn.Sequential(layers.Select(l => (l.Name, Module(l, classCount))).ToArray());
    }

    private static nn.Module<Tensor, Tensor> Module(ResolvedLayer r, int classCount) => r.Layer switch
    {
        D.Conv2d c => Conv(r.Input[0], c),
        D.BatchNorm2d b => BatchNorm(r.Input[0], b),
        D.Scale sc => new ScaleModule(sc.Factor),
        D.PatchWhitening w => new PatchWhiteningModule(r.Input[0], w),
        D.Relu => nn.ReLU(),
        D.Gelu => nn.GELU(),
        D.MaxPool2d m => nn.MaxPool2d(kernel_size: m.KernelSize, stride: m.Stride),
        D.AvgPool2d a => nn.AvgPool2d(kernel_size: a.KernelSize, stride: a.Stride),
        D.GlobalAvgPool => new GlobalAvgPoolModule(),
        D.Dropout d => nn.Dropout(d.Probability),
        D.Flatten => nn.Flatten(),
        D.Linear l => nn.Linear(r.Input[0], l.OutFeatures ?? classCount, hasBias: l.Bias),
        D.Residual => new ResidualModule(r.Body.Select(b => (b.Name, Module(b, classCount)))),
        // NetworkShapes refuses every other kind before anything is built.
        _ => throw new NotSupportedException($"layer '{r.Path}' ({r.Layer.GetType().Name}) is not supported"),
    };

    private static TorchSharp.Modules.Conv2d Conv(int inChannels, D.Conv2d c)
    {
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

    private static TorchSharp.Modules.BatchNorm2d BatchNorm(int channels, D.BatchNorm2d b)
    {
        var norm = nn.BatchNorm2d(channels, eps: b.Epsilon, momentum: b.Momentum);
        if (!b.TrainScale) norm.weight!.requires_grad = false; // stays at its initial 1
        return norm;
    }
}

/// <summary>x · factor.</summary>
internal sealed class ScaleModule(double factor) : nn.Module<Tensor, Tensor>(nameof(ScaleModule))
{
    public double Factor { get; } = factor;

    public override Tensor forward(Tensor input) => input * Factor;
}

/// <summary>
/// The fixed patch-whitening convolution (<see cref="D.PatchWhitening"/>): <c>weight</c> [2·C·k², C, k, k] never
/// learns, <c>bias</c> learns for the definition's first epochs. Zero filters until <see cref="Initialize"/>.
/// </summary>
internal sealed class PatchWhiteningModule : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;

    public PatchWhiteningModule(int channels, D.PatchWhitening definition) : base(nameof(PatchWhiteningModule))
    {
        Definition = definition;
        int k = definition.KernelSize, outChannels = 2 * channels * k * k;
        weight = new Parameter(zeros(outChannels, channels, k, k), requires_grad: false);
        bias = new Parameter(zeros(outChannels));
        RegisterComponents();
    }

    public D.PatchWhitening Definition { get; }

    public Parameter Weight => weight;

    public Parameter Bias => bias;

    public override Tensor forward(Tensor input) => nn.functional.conv2d(input, weight, bias);

    /// <summary>Whether the bias learns in <paramref name="epoch"/> (1-based).</summary>
    public void SetEpoch(int epoch) => bias.requires_grad = epoch <= Definition.BiasEpochs;

    /// <summary>
    /// Sets the filters from <paramref name="images"/> [N, C, H, W] (normalized): the eigenvectors of the k×k patches'
    /// covariance (uncentred, as the reference), largest eigenvalue first, each over √(eigenvalue + ε), then their negatives.
    /// </summary>
    public void Initialize(Tensor images)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long c = images.shape[1];
        int k = Definition.KernelSize;
        // Every k×k window of every image as a row of C·k·k values: [N·H'·W', C·k·k].
        var patches = images.to(ScalarType.Float32).unfold(2, k, 1).unfold(3, k, 1) // [N, C, H', W', k, k]
            .permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k).to(ScalarType.Float64);
        var covariance = patches.t().matmul(patches) / patches.shape[0];
        var (eigenvalues, eigenvectors) = linalg.eigh(covariance); // ascending
        var scaled = (eigenvectors.t() / (eigenvalues + Definition.Epsilon).sqrt().unsqueeze(1)).flip(0); // rows: filters
        var filters = scaled.reshape(-1, c, k, k).to(weight.dtype);
        weight.copy_(cat(new[] { filters, -filters }));
    }
}

/// <summary>x + body(x); the body's layers are registered under their own names (<c>residual1.conv1.weight</c>).</summary>
internal sealed class ResidualModule : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor>[] _body;

    public ResidualModule(IEnumerable<(string Name, nn.Module<Tensor, Tensor> Module)> body) : base(nameof(ResidualModule))
    {
        var layers = body.ToArray();
        // Registered one by one (not as a Sequential field) so state dicts, to(device), train() and eval() reach them
        // under the definition's names.
        foreach (var (name, module) in layers) register_module(name, module);
        _body = layers.Select(l => l.Module).ToArray();
    }

    /// <summary>The body's layers in order, with their names.</summary>
    public IEnumerable<(string Name, nn.Module Module)> Body => named_children();

    public override Tensor forward(Tensor input)
    {
        var x = input;
        foreach (var layer in _body) x = layer.forward(x);
        return input + x;
    }
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
