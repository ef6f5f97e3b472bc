using Cifar.Networks;

namespace Cifar;

/// <summary>How a trained network scores an image: on the image alone, or averaged over a few altered views of it.</summary>
public enum TestTimeAugmentation
{
    /// <summary>The image as it is.</summary>
    None,
    /// <summary>The mean of the logits of the image and its mirror image (flipped left to right).</summary>
    Mirror,
    /// <summary>
    /// airbench's: half <see cref="Mirror"/>, half the mean of <see cref="Mirror"/> on two copies translated by one
    /// pixel (up-left and down-right, reflect-padded): six views, weighted ¼, ¼, ⅛, ⅛, ⅛, ⅛.
    /// </summary>
    MirrorTranslate,
}

/// <summary>Which network trains, and from which weights: the configuration's <c>Model</c> section.</summary>
public sealed record ModelOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Model";

    /// <summary>A built-in network by name (case-insensitive). Default <c>SeedCnn</c>, the tutorial's.</summary>
    public string Architecture { get; init; } = SeedCnn.Name;

    /// <summary>
    /// A network of your own, built from the supported layers (<see cref="NetworkDefinition"/>); when given it trains
    /// instead of <see cref="Architecture"/>. Checked against the data's class count when <c>Fit</c> starts. Default null.
    /// </summary>
    public NetworkDefinition? Network { get; init; }

    /// <summary>
    /// Weights to start from instead of a fresh initialisation, or null: a <c>model.zip</c> this library saved (its
    /// ONNX weights are read back) or a <c>checkpoint.bin</c>. The network must be the same architecture; the
    /// first layer that differs is named otherwise. Only the head (the last layer with weights) may differ: a model of
    /// other classes or image size gives every other layer and the head starts fresh (fine-tuning). Default null.
    /// </summary>
    public string? InitialWeights { get; init; }

    /// <summary>
    /// How the trained network scores images: in the final validation, in memory and inside the saved zip (the views
    /// are part of its ONNX graph). Per-epoch validation scores the image alone. Default <see cref="Cifar.TestTimeAugmentation.None"/>.
    /// </summary>
    public TestTimeAugmentation TestTimeAugmentation { get; init; }

    /// <summary>Checks every value.</summary>
    /// <exception cref="OptionsException">A value is out of range; the key is <c>Model:Name</c>.</exception>
    public void Validate() => new OptionChecks(Section)
        .Check(Architectures.IsKnown(Architecture), nameof(Architecture), $"must be one of {string.Join(", ", Architectures.Names)}", Architecture)
        .Check(Network is null || Network.Layers is { Count: > 0 }, nameof(Network), "must have layers", Network?.Name)
        .Check(Enum.IsDefined(TestTimeAugmentation), nameof(TestTimeAugmentation), "must be None, Mirror or MirrorTranslate", TestTimeAugmentation)
        .Check(InitialWeights is null || InitialWeights.Trim().Length > 0, nameof(InitialWeights), "must be a file path (or left out)", InitialWeights)
        .Check(InitialWeights is null || File.Exists(InitialWeights), nameof(InitialWeights), "is not a file", InitialWeights);

    /// <summary>The network that trains: <see cref="Network"/>, else the built-in <see cref="Architecture"/>.</summary>
    internal NetworkDefinition Definition => Network ?? Architectures.Definition(Architecture);
}
