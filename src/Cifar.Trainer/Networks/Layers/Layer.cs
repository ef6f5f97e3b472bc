using System.Text.Json.Serialization;

namespace Cifar.Networks;

/// <summary>
/// One layer of a <see cref="NetworkDefinition"/>: pure data. Input channels and features are not written;
/// they follow from the layers before, starting at the 3×32×32 image.
/// </summary>
/// <remarks>
/// In JSON a layer is an object whose <c>Type</c> property names its kind (<c>{"Type": "Conv2d", "OutChannels": 64,
/// "KernelSize": 3, "Padding": 1}</c>). Subclasses outside this assembly are representable but not buildable:
/// <see cref="NetworkDefinition.Check"/> refuses them.
/// </remarks>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "Type")]
[JsonDerivedType(typeof(Conv2d), nameof(Conv2d))]
[JsonDerivedType(typeof(BatchNorm2d), nameof(BatchNorm2d))]
[JsonDerivedType(typeof(Relu), nameof(Relu))]
[JsonDerivedType(typeof(Gelu), nameof(Gelu))]
[JsonDerivedType(typeof(MaxPool2d), nameof(MaxPool2d))]
[JsonDerivedType(typeof(AvgPool2d), nameof(AvgPool2d))]
[JsonDerivedType(typeof(GlobalAvgPool), nameof(GlobalAvgPool))]
[JsonDerivedType(typeof(Dropout), nameof(Dropout))]
[JsonDerivedType(typeof(Flatten), nameof(Flatten))]
[JsonDerivedType(typeof(Linear), nameof(Linear))]
[JsonDerivedType(typeof(Residual), nameof(Residual))]
[JsonDerivedType(typeof(PatchWhitening), nameof(PatchWhitening))]
[JsonDerivedType(typeof(Scale), nameof(Scale))]
public abstract record Layer
{
    /// <summary>
    /// The layer's name, the prefix of its weights' names (<c>conv1</c> → <c>conv1.weight</c>), or null for a
    /// default one: the kind's short name numbered per kind within its list (<c>conv1</c>, <c>bn1</c>,
    /// <c>relu1</c>, <c>conv2</c> …). Names are unique within a list and contain no '.'.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Name { get; init; }
}

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
public sealed record Conv2d(int OutChannels, int KernelSize, int Stride = 1, int Padding = 0, bool Bias = true,
    bool IdentityInit = false) : Layer;

/// <summary>
/// Batch normalization per channel of a [C, H, W] input, with a learned scale and shift; training uses the
/// batch's statistics and updates running ones, evaluation uses the running ones.
/// </summary>
/// <param name="Momentum">Weight of the newest batch in the running statistics.</param>
/// <param name="Epsilon">Added to the variance before its square root.</param>
/// <param name="TrainScale">Whether the scale is learned; when false it stays 1 and only the shift learns (airbench's).</param>
public sealed record BatchNorm2d(double Momentum = 0.1, double Epsilon = 1e-5, bool TrainScale = true) : Layer;

/// <summary>max(0, x), element-wise.</summary>
public sealed record Relu : Layer;

/// <summary>The Gaussian error linear unit x·Φ(x), element-wise, in its exact (erf) form.</summary>
public sealed record Gelu : Layer;

/// <summary>Maximum over square windows of each channel: [C, H, W] → [C, H', W'].</summary>
/// <param name="KernelSize">Side of the square window.</param>
/// <param name="Stride">Step between windows; null: <paramref name="KernelSize"/> (windows side by side).</param>
public sealed record MaxPool2d(int KernelSize, int? Stride = null) : Layer;

/// <summary>Mean over square windows of each channel: [C, H, W] → [C, H', W'].</summary>
/// <param name="KernelSize">Side of the square window.</param>
/// <param name="Stride">Step between windows; null: <paramref name="KernelSize"/> (windows side by side).</param>
public sealed record AvgPool2d(int KernelSize, int? Stride = null) : Layer;

/// <summary>Mean of each channel over all positions: [C, H, W] → [C].</summary>
public sealed record GlobalAvgPool : Layer;

/// <summary>During training, zeroes each value with probability <paramref name="Probability"/> and scales the rest by 1/(1 − p); identity in evaluation.</summary>
/// <param name="Probability">The chance of zeroing a value, in [0, 1).</param>
public sealed record Dropout(double Probability = 0.5) : Layer;

/// <summary>[C, H, W] → [C·H·W]; a flat input stays as it is.</summary>
public sealed record Flatten : Layer;

/// <summary>Fully connected layer on a flat input: [F] → [OutFeatures].</summary>
/// <param name="OutFeatures">Output width; null: the number of classes (the usual last layer).</param>
/// <param name="Bias">Whether the layer adds a learned bias per output.</param>
public sealed record Linear(int? OutFeatures = null, bool Bias = true) : Layer;

/// <summary>Multiplies by a constant: <c>x · Factor</c> (airbench's scaled head).</summary>
/// <param name="Factor">The constant, finite.</param>
public sealed record Scale(double Factor) : Layer;

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
public sealed record PatchWhitening(int KernelSize = 2, double Epsilon = 5e-4, int InitImages = 5000, int BiasEpochs = 3) : Layer;

/// <summary>A skip connection: x + Body(x). The body must give back the shape it was given.</summary>
/// <param name="Body">The layers on the residual branch, in order; their names are scoped by this layer's name.</param>
public sealed record Residual(IReadOnlyList<Layer> Body) : Layer
{
    /// <summary>Equal when the names and the bodies' layers are equal, in order.</summary>
    public bool Equals(Residual? other) =>
        other is not null && base.Equals(other) && NetworkDefinition.SameLayers(Body, other.Body);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(base.GetHashCode(), NetworkDefinition.LayersHash(Body));
}
