using System.Text.Json.Serialization;

namespace Cifar;

/// <summary>
/// Train-time augmentation, applied in this order: horizontal flip (torchvision's RandomHorizontalFlip, or airbench's
/// alternating flips), translation (airbench's reflect-padded random crop), then the tutorial's
/// <c>transforms.Compose</c> rest: ColorJitter, RandomRotation. The configuration's <c>Augmentation</c> section.
/// Every default is "off": the result is the identity.
/// </summary>
public sealed record AugmentationOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Augmentation";

    /// <summary>RandomHorizontalFlip on or off. Default off.</summary>
    public bool HorizontalFlip { get; init; }

    /// <summary>RandomHorizontalFlip's p, used when <see cref="HorizontalFlip"/> is on. Default 0.5 (torchvision's).</summary>
    public double HorizontalFlipProbability { get; init; } = 0.5;

    /// <summary>
    /// With <see cref="HorizontalFlip"/> on, flips alternate per image between epochs as in airbench: the first epoch
    /// draws them with <see cref="HorizontalFlipProbability"/>, each later epoch inverts the one before, so every image
    /// is seen both ways round in alternate epochs. Default off (a fresh draw every epoch).
    /// </summary>
    public bool AlternateFlips { get; init; }

    /// <summary>
    /// Random translation by up to this many pixels (0–8), as in airbench: each image is reflect-padded by this many
    /// pixels on every side and cropped back to its size at an offset drawn per image and epoch, each of its row and
    /// column shifts uniform in [−t, t]. Default 0: none.
    /// </summary>
    public int Translate { get; init; }

    /// <summary>The largest <see cref="Translate"/> accepted: reflect padding needs the image to be wider than the pad.</summary>
    public const int MaxTranslate = 8;

    /// <summary>RandomRotation(degrees): angle drawn from [−d, d], about the centre, nearest neighbour, zero fill. 0 = none.</summary>
    public double RotationDegrees { get; init; }

    /// <summary>ColorJitter's factors. Default all 0: unchanged.</summary>
    public ColorJitterOptions ColorJitter { get; init; } = new();

    /// <summary>The probability an image is flipped: <see cref="HorizontalFlipProbability"/> when flipping is on, else 0.</summary>
    [JsonIgnore]
    public double FlipProbability => HorizontalFlip ? HorizontalFlipProbability : 0;

    /// <summary>
    /// Whether any image can be flipped: flipping on, with a non-zero probability or alternating flips (which flip
    /// every image in even epochs even at probability 0).
    /// </summary>
    [JsonIgnore]
    public bool HasFlips => HorizontalFlip && (HorizontalFlipProbability > 0 || AlternateFlips);

    /// <summary>Whether any colour jitter is on.</summary>
    [JsonIgnore]
    public bool HasColorJitter => ColorJitter.Brightness > 0 || ColorJitter.Contrast > 0 || ColorJitter.Saturation > 0 || ColorJitter.Hue > 0;

    /// <summary>Whether the options change anything at all.</summary>
    [JsonIgnore]
    public bool IsIdentity => !HasFlips && Translate == 0 && !HasColorJitter && RotationDegrees <= 0;

    /// <summary>The tutorial's train-time augmentation: flip p = 0.5, ColorJitter() (identity), rotation 10°.</summary>
    public static AugmentationOptions Tutorial { get; } = new() { HorizontalFlip = true, RotationDegrees = 10 };

    /// <summary>Checks the ranges torchvision accepts.</summary>
    /// <exception cref="OptionsException">A value is out of range; the key is <c>Augmentation:Name</c>.</exception>
    public void Validate()
    {
        new OptionChecks(Section)
            .Check(HorizontalFlipProbability is >= 0 and <= 1, nameof(HorizontalFlipProbability), "must be in [0, 1]", HorizontalFlipProbability)
            .Check(Translate is >= 0 and <= MaxTranslate, nameof(Translate), $"must be in [0, {MaxTranslate}]", Translate)
            .Check(RotationDegrees is >= 0 and <= 180, nameof(RotationDegrees), "must be in [0, 180]", RotationDegrees)
            .Check(ColorJitter is not null, nameof(ColorJitter), "must be an object", ColorJitter);
        var jitter = ColorJitter!;
        new OptionChecks($"{Section}:{nameof(ColorJitter)}")
            .Check(jitter.Brightness >= 0 && double.IsFinite(jitter.Brightness), nameof(jitter.Brightness), "must be a number, 0 or more", jitter.Brightness)
            .Check(jitter.Contrast >= 0 && double.IsFinite(jitter.Contrast), nameof(jitter.Contrast), "must be a number, 0 or more", jitter.Contrast)
            .Check(jitter.Saturation >= 0 && double.IsFinite(jitter.Saturation), nameof(jitter.Saturation), "must be a number, 0 or more", jitter.Saturation)
            .Check(jitter.Hue is >= 0 and <= 0.5, nameof(jitter.Hue), "must be in [0, 0.5]", jitter.Hue);
    }
}

/// <summary>torchvision's ColorJitter: each factor drawn per image; 0 leaves that property unchanged.</summary>
public sealed record ColorJitterOptions
{
    /// <summary>Brightness: factor drawn from [max(0, 1 − b), 1 + b]. Default 0.</summary>
    public double Brightness { get; init; }

    /// <summary>Contrast: factor drawn from [max(0, 1 − c), 1 + c]. Default 0.</summary>
    public double Contrast { get; init; }

    /// <summary>Saturation: factor drawn from [max(0, 1 − s), 1 + s]. Default 0.</summary>
    public double Saturation { get; init; }

    /// <summary>Hue: shift drawn from [−h, h], h in [0, 0.5]. Default 0.</summary>
    public double Hue { get; init; }
}
