using Cifar.Trainer.Onnx;
using Cifar.Trainer.Training;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>
/// A fixed convolution that whitens image patches, airbench's first layer: [C, H, W] → [2·C·k², H − k + 1, W − k + 1].
/// Before training its filters are set from the covariance of the first <paramref name="InitImages"/> training images'
/// k×k patches: each eigenvector scaled by 1/√(eigenvalue + <paramref name="Epsilon"/>), and its negative, largest
/// eigenvalue first. The filters stay fixed; the bias learns for the first <paramref name="BiasEpochs"/> epochs only.
/// </summary>
/// <param name="KernelSize">Side k of the square patches.</param>
/// <param name="Epsilon">Added to each eigenvalue before its square root.</param>
/// <param name="InitImages">How many training images (from the first) the patch statistics come from.</param>
/// <param name="BiasEpochs">Epochs in which the bias learns; afterwards it is frozen.</param>
[LayerKind(typeof(PatchWhiteningKind))]
public sealed record PatchWhitening(int KernelSize = 2, double Epsilon = 5e-4, int InitImages = 5000, int BiasEpochs = 3) : Layer;

internal sealed class PatchWhiteningKind : LayerKind<PatchWhitening, PatchWhiteningModule>
{
    public override string NamePrefix => "whiten";

    protected override int[] Output(PatchWhitening w, ShapeCheck check)
    {
        check.Positive(w.KernelSize, "KernelSize");
        check.Positive(w.InitImages, "InitImages");
        if (w.BiasEpochs < 0) check.Fail($"BiasEpochs must be 0 or more (got {w.BiasEpochs})");
        check.Positive(w.Epsilon, "Epsilon");
        check.Image();
        return [2 * check.Input[0] * w.KernelSize * w.KernelSize, .. check.Window(w.KernelSize, 1, 0)];
    }

    protected override PatchWhiteningModule Build(PatchWhitening w, ResolvedLayer at) => new(at.Input[0], w);

    protected override string Export(PatchWhitening w, PatchWhiteningModule module, LayerExport onnx) =>
        onnx.Conv(module.Weight, module.Bias, [1, 1], [0, 0, 0, 0], [1, 1], 1);

    protected override void InitializeFromData(PatchWhitening w, PatchWhiteningModule module, TensorDataset train)
    {
        using var images = train.Normalized(0, Math.Min(train.Count, w.InitImages));
        module.Initialize(images);
    }

    protected override void StartEpoch(PatchWhitening w, PatchWhiteningModule module, int epoch) => module.SetEpoch(epoch);
}

/// <summary>
/// The fixed patch-whitening convolution (<see cref="PatchWhitening"/>): <c>weight</c> [2·C·k², C, k, k] never
/// learns, <c>bias</c> learns for the definition's first epochs. Zero filters until <see cref="Initialize"/>.
/// </summary>
internal sealed class PatchWhiteningModule : nn.Module<Tensor, Tensor>
{
    private readonly Modules.Parameter weight;
    private readonly Modules.Parameter bias;

    public PatchWhiteningModule(int channels, PatchWhitening definition) : base(nameof(PatchWhiteningModule))
    {
        Definition = definition;
        int k = definition.KernelSize, outChannels = 2 * channels * k * k;
        weight = new Modules.Parameter(zeros(outChannels, channels, k, k), requires_grad: false);
        bias = new Modules.Parameter(zeros(outChannels));
        RegisterComponents();
    }

    public PatchWhitening Definition { get; }

    public Modules.Parameter Weight => weight;

    public Modules.Parameter Bias => bias;

    public override Tensor forward(Tensor input) => Cifar.Trainer.Native.ChannelPadding.Conv2d(input, weight, bias, [1, 1], [0, 0]);

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
