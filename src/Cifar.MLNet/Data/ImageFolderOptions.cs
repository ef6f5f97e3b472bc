namespace Cifar.MLNet.Data;

/// <summary>
/// How <see cref="ImageFolderData.Load"/> reads a data root: subset sizes, and the split of a single folder of class
/// folders into training and validation. The app's <c>Data</c> configuration section holds these (keys
/// <c>Data:TrainLimit</c>, …), so their defaults and rules live here once.
/// </summary>
public record ImageFolderOptions
{
    /// <summary>The configuration section of these options; an <see cref="OptionsException"/> names keys under it.</summary>
    public const string Section = "Data";

    /// <summary>The share of each class held out for validation when <see cref="ValidationFraction"/> is not given: 0.2.</summary>
    public const double DefaultValidationFraction = 0.2;

    /// <summary>Training images, a class-balanced subset (as evenly over the classes as their images allow); 0 = all. Default 0.</summary>
    public int TrainLimit { get; init; }

    /// <summary>Validation images (the test split, or the held-out part of a single folder), class-balanced; 0 = all. Default 0.</summary>
    public int ValidationLimit { get; init; }

    /// <summary>
    /// The share of each class's images held out for validation, in (0, 1), for a root of class folders without
    /// <c>train/</c> and <c>test/</c>; null (the default) = <see cref="DefaultValidationFraction"/>. Given for a root
    /// that has <c>train/</c> and <c>test/</c>, it is refused: there the test split validates.
    /// </summary>
    public double? ValidationFraction { get; init; }

    /// <summary>
    /// The seed of that split. Default 1. Apart from the training seed on purpose: training again with another
    /// <c>Training:Seed</c> validates on the same images.
    /// </summary>
    public int SplitSeed { get; init; } = 1;

    /// <summary>Checks every value.</summary>
    /// <exception cref="OptionsException">A value is out of range; the key is <c>Data:Name</c>.</exception>
    public virtual void Validate() => new OptionChecks(Section)
        .Check(TrainLimit >= 0, nameof(TrainLimit), "must be 0 (all) or more", TrainLimit)
        .Check(ValidationLimit >= 0, nameof(ValidationLimit), "must be 0 (all) or more", ValidationLimit)
        .Check(ValidationFraction is null or (> 0 and < 1), nameof(ValidationFraction), "must be greater than 0 and less than 1", ValidationFraction);
}
