namespace Cifar.Trainer.Augmentation;

/// <summary>
/// Train-time augmentation with torchvision's semantics, applied in this order as the tutorial's
/// <c>transforms.Compose</c>: RandomHorizontalFlip, ColorJitter, RandomRotation.
/// All defaults are "off": the result is the identity.
/// </summary>
public sealed record AugmentationSettings
{
    /// <summary>Probability of flipping an image left-right (RandomHorizontalFlip's p). 0 = never.</summary>
    public double HorizontalFlipProbability { get; init; }

    /// <summary>ColorJitter brightness: factor drawn from [max(0, 1 − b), 1 + b]. 0 = unchanged.</summary>
    public double Brightness { get; init; }

    /// <summary>ColorJitter contrast: factor drawn from [max(0, 1 − c), 1 + c]. 0 = unchanged.</summary>
    public double Contrast { get; init; }

    /// <summary>ColorJitter saturation: factor drawn from [max(0, 1 − s), 1 + s]. 0 = unchanged.</summary>
    public double Saturation { get; init; }

    /// <summary>ColorJitter hue: shift drawn from [−h, h], h in [0, 0.5]. 0 = unchanged.</summary>
    public double Hue { get; init; }

    /// <summary>RandomRotation(degrees): angle drawn from [−d, d], about the centre, nearest neighbour, zero fill. 0 = none.</summary>
    public double RotationDegrees { get; init; }

    /// <summary>Whether any colour jitter is on.</summary>
    public bool HasColorJitter => Brightness > 0 || Contrast > 0 || Saturation > 0 || Hue > 0;

    /// <summary>Whether the settings change anything at all.</summary>
    public bool IsIdentity => HorizontalFlipProbability <= 0 && !HasColorJitter && RotationDegrees <= 0;

    /// <summary>The tutorial's train-time augmentation: flip p = 0.5, ColorJitter() (identity), rotation 10°.</summary>
    public static AugmentationSettings Tutorial { get; } = new() { HorizontalFlipProbability = 0.5, RotationDegrees = 10 };
}

/// <summary>
/// Per-channel normalization (x − mean) / std of images whose pixels are in [0, 1]
/// (torchvision's Normalize after ToTensor).
/// </summary>
/// <param name="Mean">One mean per channel (R, G, B).</param>
/// <param name="Std">One standard deviation per channel (R, G, B), each &gt; 0.</param>
public sealed record PixelNormalization(IReadOnlyList<float> Mean, IReadOnlyList<float> Std)
{
    /// <summary>The tutorial's Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)): pixels to [−1, 1].</summary>
    public static PixelNormalization Tutorial { get; } = new(new[] { 0.5f, 0.5f, 0.5f }, new[] { 0.5f, 0.5f, 0.5f });

    /// <summary>
    /// Per-channel scale and offset with pixel · scale + offset = (pixel / 255 − mean) / std for
    /// 0–255 pixels, rounded to float32 once: every place that normalizes uses these, so all agree.
    /// </summary>
    public (float[] Scale, float[] Offset) ScaleAndOffset()
    {
        var scale = new float[Mean.Count];
        var offset = new float[Mean.Count];
        for (int c = 0; c < Mean.Count; c++)
        {
            scale[c] = (float)(1.0 / (255.0 * Std[c]));
            offset[c] = (float)(-Mean[c] / (double)Std[c]);
        }
        return (scale, offset);
    }
}
