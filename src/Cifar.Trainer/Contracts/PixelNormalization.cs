namespace Cifar;

/// <summary>
/// Per-channel normalization (x − mean) / std of images whose pixels are in [0, 1] (torchvision's Normalize after
/// ToTensor): the configuration's <c>Normalization</c> section.
/// </summary>
/// <param name="Mean">One mean per channel: R, G, B (or one for grey images).</param>
/// <param name="Std">One standard deviation per channel, each &gt; 0.</param>
public sealed record PixelNormalization(IReadOnlyList<float> Mean, IReadOnlyList<float> Std)
{
    /// <summary>One mean per channel (R, G, B): a copy of what was given, so no caller can change it afterwards.</summary>
    public IReadOnlyList<float> Mean { get; init; } = Mean is null ? null! : Array.AsReadOnly(Mean.ToArray());

    /// <summary>One standard deviation per channel (R, G, B): a copy of what was given.</summary>
    public IReadOnlyList<float> Std { get; init; } = Std is null ? null! : Array.AsReadOnly(Std.ToArray());

    /// <summary>The configuration section this binds to.</summary>
    public const string Section = "Normalization";

    /// <summary>The tutorial's Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)): pixels to [−1, 1].</summary>
    public static PixelNormalization Tutorial { get; } = new(new[] { 0.5f, 0.5f, 0.5f }, new[] { 0.5f, 0.5f, 0.5f });

    /// <summary>Checks 3 (R, G, B) or 1 (grey) finite means and as many finite positive stds.</summary>
    /// <exception cref="OptionsException">A value is out of range; the key is <c>Normalization:Mean</c> or <c>:Std</c>.</exception>
    public void Validate() => new OptionChecks(Section)
        .Check(Mean is { Count: 1 or 3 } && Mean.All(float.IsFinite), nameof(Mean), "must be 3 finite numbers (R, G, B) or 1 (grey)", Mean)
        .Check(Std is not null && Std.Count == Mean?.Count && Std.All(s => float.IsFinite(s) && s > 0), nameof(Std),
            $"must be {Mean?.Count ?? 3} numbers greater than 0, one per mean", Std);

    /// <summary>
    /// This normalization for images of <paramref name="channels"/> channels: itself when it has one value per channel;
    /// one value repeated for every channel; three equal values as one for grey images (so the tutorial's 0.5 / 0.5
    /// serves both).
    /// </summary>
    /// <exception cref="OptionsException">Three different values for grey images, say; the key is <c>Normalization:Mean</c>.</exception>
    public PixelNormalization ForChannels(int channels)
    {
        if (Mean.Count == channels) return this;
        if (Mean.Count == 1) return new(Enumerable.Repeat(Mean[0], channels).ToArray(), Enumerable.Repeat(Std[0], channels).ToArray());
        if (channels == 1 && Mean.Distinct().Count() == 1 && Std.Distinct().Count() == 1) return new(new[] { Mean[0] }, new[] { Std[0] });
        throw new OptionsException($"{Section}:{nameof(Mean)}",
            $"must have one value per channel (and :{nameof(Std)} as many): the images have {channels} channel{(channels == 1 ? "" : "s")}; give {channels}, or one for all", Mean);
    }

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

    /// <summary>Records compare lists by reference; two normalizations are equal when their numbers are.</summary>
    public bool Equals(PixelNormalization? other) =>
        other is not null && Mean.SequenceEqual(other.Mean) && Std.SequenceEqual(other.Std);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Mean.Count > 0 ? Mean[0] : 0, Std.Count > 0 ? Std[0] : 0);
}
