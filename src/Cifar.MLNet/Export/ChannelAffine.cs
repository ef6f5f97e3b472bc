using System.Globalization;

namespace Cifar.MLNet.Export;

/// <summary>
/// A per-channel affine map y = x · Scale[c] + Offset[c]: what the zip's pixel extraction and normalization graph each
/// do to the 0–255 pixels, composed into the one map the metadata describes as mean and std.
/// </summary>
internal sealed record ChannelAffine(double[] Scale, double[] Offset)
{
    /// <summary>The map that leaves <paramref name="channels"/> channels as they are.</summary>
    public static ChannelAffine Identity(int channels) => new(Enumerable.Repeat(1.0, channels).ToArray(), new double[channels]);

    /// <summary>Whether every channel is left as it is.</summary>
    public bool IsIdentity => Scale.All(s => s == 1) && Offset.All(o => o == 0);

    /// <summary>This map, then <paramref name="next"/>.</summary>
    public ChannelAffine Then(ChannelAffine next) =>
        new(Scale.Select((s, c) => s * next.Scale[c]).ToArray(), Offset.Select((o, c) => o * next.Scale[c] + next.Offset[c]).ToArray());

    /// <summary>
    /// The same map as (x / 255 − mean[c]) / std[c], the form the metadata states (std = 1 / (255 · scale),
    /// mean = −offset / (255 · scale)), to 6 significant digits: float32 keeps about 7.
    /// </summary>
    public (double[] Mean, double[] Std) MeanAndStd() =>
        (Scale.Select((s, c) => Round(-Offset[c] / (255.0 * s))).ToArray(), Scale.Select(s => Round(1.0 / (255.0 * s))).ToArray());

    private static double Round(double value) =>
        double.Parse(value.ToString("G6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
