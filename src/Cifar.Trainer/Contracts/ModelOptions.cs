namespace Cifar;

/// <summary>Which network trains, and from which weights: the configuration's <c>Model</c> section.</summary>
public sealed record ModelOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Model";

    /// <summary>A built-in network by name (case-insensitive). Default <c>SeedCnn</c>, the tutorial's.</summary>
    public string Architecture { get; init; } = Trainer.Networks.SeedCnn.Name;

    /// <summary>
    /// Weights to start from instead of a fresh initialisation, or null: a <c>model.zip</c> this library saved (its
    /// ONNX weights are read back) or a <c>checkpoint.bin</c>. The network must be the same architecture; the
    /// first layer that differs is named otherwise. Default null.
    /// </summary>
    public string? InitialWeights { get; init; }

    /// <summary>Checks every value.</summary>
    /// <exception cref="OptionsException">A value is out of range; the key is <c>Model:Name</c>.</exception>
    public void Validate() => new OptionChecks(Section)
        .Check(Trainer.Networks.Architectures.IsKnown(Architecture), nameof(Architecture),
            $"must be one of {string.Join(", ", Trainer.Networks.Architectures.Names)}", Architecture)
        .Check(InitialWeights is null || InitialWeights.Trim().Length > 0, nameof(InitialWeights), "must be a file path (or left out)", InitialWeights)
        .Check(InitialWeights is null || File.Exists(InitialWeights), nameof(InitialWeights), "is not a file", InitialWeights);
}
