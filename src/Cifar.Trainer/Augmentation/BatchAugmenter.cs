using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Augmentation;

/// <summary>
/// Applies <see cref="AugmentationOptions"/> to whole batches of normalized images on their own
/// device, drawing every random parameter per image from a seeded generator (kept on the CPU so a
/// seed gives the same draws on every device). Pixel operations follow torchvision's tensor
/// definitions (<c>torchvision.transforms.functional</c>), done in [0, 1] pixel space: batches are
/// un-normalized first and normalized again after, so zero fill means black as in the tutorial.
/// </summary>
public sealed class BatchAugmenter
{
    private readonly AugmentationOptions _settings;
    private readonly float[] _mean;
    private readonly float[] _std;

    /// <summary>Creates an augmenter for images normalized with <paramref name="normalization"/>.</summary>
    public BatchAugmenter(AugmentationOptions settings, PixelNormalization normalization)
    {
        _settings = settings;
        _mean = normalization.Mean.ToArray();
        _std = normalization.Std.ToArray();
    }

    /// <summary>The settings this augmenter applies.</summary>
    public AugmentationOptions Settings => _settings;

    /// <summary>Augments a normalized batch [N, 3, H, W]; returns a new tensor (the input when identity).</summary>
    public Tensor Apply(Tensor normalizedBatch, Generator generator)
    {
        if (_settings.IsIdentity) return normalizedBatch;
        using var mean = tensor(_mean, device: normalizedBatch.device).view(1, 3, 1, 1);
        using var std = tensor(_std, device: normalizedBatch.device).view(1, 3, 1, 1);
        return (ApplyToPixels(normalizedBatch * std + mean, generator) - mean) / std;
    }

    /// <summary>
    /// Augments the normalized batch of images <paramref name="start"/> .. start + N − 1 of an epoch with
    /// the parameters <see cref="DrawEpoch"/> drew (same result as <see cref="Apply(Tensor, Generator)"/>).
    /// </summary>
    public Tensor Apply(Tensor normalizedBatch, EpochDraws draws, long start) =>
        (ApplyToPixels(normalizedBatch * draws.Std + draws.Mean, draws, start) - draws.Mean) / draws.Std;

    /// <summary>Augments a batch of [0, 1] pixels [N, 3, H, W]; returns a new tensor.</summary>
    public Tensor ApplyToPixels(Tensor pixels, Generator generator)
    {
        long n = pixels.shape[0];
        if (_settings.FlipProbability > 0)
            pixels = Flip(pixels, DrawFlips(n, generator).to(pixels.device));
        if (_settings.HasColorJitter)
            pixels = ColorJitter(pixels, generator);
        if (_settings.RotationDegrees > 0)
            pixels = Rotate(pixels, DrawDegrees(n, generator).to(pixels.device));
        return pixels;
    }

    /// <summary>
    /// Augments the batch of [0, 1] pixels that holds images <paramref name="start"/> .. start + N − 1
    /// of an epoch, with the parameters <see cref="DrawEpoch"/> drew.
    /// </summary>
    public Tensor ApplyToPixels(Tensor pixels, EpochDraws draws, long start)
    {
        long n = pixels.shape[0];
        if (draws.Flips is { } flips) pixels = Flip(pixels, flips.narrow(0, start, n));
        if (draws.Cosines is { } cos) pixels = Rotate(pixels, cos.narrow(0, start, n), draws.Sines!.narrow(0, start, n));
        return pixels;
    }

    /// <summary>
    /// Draws the flips and rotation angles of a whole epoch (<paramref name="count"/> images in batches of
    /// <paramref name="batchSize"/>) from <paramref name="generator"/> in exactly the order per-batch calls
    /// of <see cref="ApplyToPixels(Tensor, Generator)"/> would, and moves them to <paramref name="device"/>
    /// once: a GPU then gets no host-to-device copy (which waits for the GPU) per step. Null for the
    /// identity, and with colour jitter, whose per-image draws interleave with the others: use the
    /// per-batch methods then.
    /// </summary>
    public EpochDraws? DrawEpoch(long count, int batchSize, Generator generator, Device device)
    {
        if (_settings.HasColorJitter || _settings.IsIdentity) return null;
        // Every temporary dies with the scope; only the four results leave it.
        using var scope = NewDisposeScope();
        var flips = new List<Tensor>();
        var degrees = new List<Tensor>();
        for (long start = 0; start < count; start += batchSize)
        {
            long n = Math.Min(batchSize, count - start);
            if (_settings.FlipProbability > 0) flips.Add(DrawFlips(n, generator));
            if (_settings.RotationDegrees > 0) degrees.Add(DrawDegrees(n, generator));
        }
        // The angles' cosines and sines too are computed once per epoch (elementwise: the per-batch numbers).
        var (cos, sin) = degrees.Count > 0 ? CosSin(cat(degrees).to(device)) : (null, null);
        return new EpochDraws(
            flips.Count > 0 ? cat(flips).to(device).MoveToOuterDisposeScope() : null,
            cos?.MoveToOuterDisposeScope(), sin?.MoveToOuterDisposeScope(),
            tensor(_mean, device: device).view(1, 3, 1, 1).MoveToOuterDisposeScope(),
            tensor(_std, device: device).view(1, 3, 1, 1).MoveToOuterDisposeScope());
    }

    private Tensor DrawFlips(long n, Generator generator) => rand(n, generator: generator) < _settings.FlipProbability;

    private Tensor DrawDegrees(long n, Generator generator)
    {
        double d = _settings.RotationDegrees;
        return rand(n, dtype: ScalarType.Float64, generator: generator) * (2 * d) - d;
    }

    private static Tensor Flip(Tensor images, Tensor flips) =>
        where(flips.view(images.shape[0], 1, 1, 1), images.flip(3), images);

    /// <summary>
    /// Rotates each image [N, C, H, W] counter-clockwise by its angle in degrees [N] about the image
    /// centre, nearest neighbour, zero fill: torchvision's <c>F.rotate</c> on tensors
    /// (inverse affine grid over pixel centres, <c>grid_sample(mode="nearest", align_corners=False)</c>).
    /// </summary>
    public static Tensor Rotate(Tensor images, Tensor degrees)
    {
        var (cos, sin) = CosSin(degrees);
        return Rotate(images, cos, sin);
    }

    /// <summary>Cosine and sine of angles in degrees, computed in float64 and rounded to float32 once.</summary>
    private static (Tensor Cos, Tensor Sin) CosSin(Tensor degrees)
    {
        var radians = degrees.to(ScalarType.Float64) * (Math.PI / 180.0);
        return (radians.cos().to(ScalarType.Float32), radians.sin().to(ScalarType.Float32));
    }

    /// <summary><see cref="Rotate(Tensor, Tensor)"/> with each image's angle given by its cosine and sine [N] (float32).</summary>
    private static Tensor Rotate(Tensor images, Tensor cosines, Tensor sines)
    {
        long n = images.shape[0], h = images.shape[2], w = images.shape[3];
        var device = images.device;
        var cos = cosines.view(n, 1, 1);
        var sin = sines.view(n, 1, 1);
        // Output pixel centres relative to the image centre.
        var x = linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, w, dtype: ScalarType.Float32, device: device).view(1, 1, w);
        var y = linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, h, dtype: ScalarType.Float32, device: device).view(1, h, 1);
        // Where each output pixel samples the input: the inverse rotation, in grid_sample's [-1, 1] units.
        var sourceX = (cos * x - sin * y) / (w * 0.5f);
        var sourceY = (sin * x + cos * y) / (h * 0.5f);
        var grid = stack(new[] { sourceX, sourceY }, dim: -1);
        return nn.functional.grid_sample(images, grid, mode: GridSampleMode.Nearest,
            padding_mode: GridSamplePaddingMode.Zeros, align_corners: false);
    }

    private Tensor ColorJitter(Tensor pixels, Generator generator)
    {
        // torchvision draws a fresh order of the four adjustments and fresh factors for every image.
        long n = pixels.shape[0];
        var images = new Tensor[n];
        for (long i = 0; i < n; i++)
        {
            var image = pixels[i];
            var order = randperm(4, generator: generator).data<long>().ToArray();
            double? brightness = Factor(_settings.ColorJitter.Brightness, generator);
            double? contrast = Factor(_settings.ColorJitter.Contrast, generator);
            double? saturation = Factor(_settings.ColorJitter.Saturation, generator);
            double? hue = _settings.ColorJitter.Hue > 0 ? Uniform(-_settings.ColorJitter.Hue, _settings.ColorJitter.Hue, generator) : null;
            foreach (var step in order)
            {
                image = step switch
                {
                    0 when brightness is { } b => AdjustBrightness(image, b),
                    1 when contrast is { } c => AdjustContrast(image, c),
                    2 when saturation is { } s => AdjustSaturation(image, s),
                    3 when hue is { } hf => AdjustHue(image, hf),
                    _ => image,
                };
            }
            images[i] = image;
        }
        return stack(images);
    }

    private static double? Factor(double amount, Generator generator) =>
        amount > 0 ? Uniform(Math.Max(0, 1 - amount), 1 + amount, generator) : null;

    private static double Uniform(double low, double high, Generator generator) =>
        low + (high - low) * rand(1, dtype: ScalarType.Float64, generator: generator).item<double>();

    /// <summary>torchvision <c>adjust_brightness</c>: blend with black, clamped to [0, 1].</summary>
    public static Tensor AdjustBrightness(Tensor image, double factor) => Blend(image, zeros_like(image), factor);

    /// <summary>torchvision <c>adjust_contrast</c>: blend with the mean grey level of the image.</summary>
    public static Tensor AdjustContrast(Tensor image, double factor) =>
        Blend(image, Grayscale(image).mean(new long[] { -3, -2, -1 }, keepdim: true), factor);

    /// <summary>torchvision <c>adjust_saturation</c>: blend with the image's grey version.</summary>
    public static Tensor AdjustSaturation(Tensor image, double factor) => Blend(image, Grayscale(image), factor);

    /// <summary>torchvision <c>adjust_hue</c>: shift the hue (in turns, [−0.5, 0.5]) in HSV space.</summary>
    public static Tensor AdjustHue(Tensor image, double shift)
    {
        var hsv = RgbToHsv(image).unbind(-3);
        var hue = (hsv[0] + shift).remainder(1.0);
        return HsvToRgb(hue, hsv[1], hsv[2]);
    }

    private static Tensor Blend(Tensor image, Tensor other, double ratio) =>
        (image * ratio + other * (1.0 - ratio)).clamp(0.0, 1.0);

    private static Tensor Grayscale(Tensor image)
    {
        var rgb = image.unbind(-3);
        return (rgb[0] * 0.2989 + rgb[1] * 0.587 + rgb[2] * 0.114).unsqueeze(-3);
    }

    private static Tensor RgbToHsv(Tensor image)
    {
        var rgb = image.unbind(-3);
        var (r, g, b) = (rgb[0], rgb[1], rgb[2]);
        var maxc = image.max(-3).values;
        var minc = image.min(-3).values;
        var equal = maxc.eq(minc);
        var chroma = maxc - minc;
        var ones = ones_like(maxc);
        var saturation = chroma / where(equal, ones, maxc);
        var divisor = where(equal, ones, chroma);
        var rc = (maxc - r) / divisor;
        var gc = (maxc - g) / divisor;
        var bc = (maxc - b) / divisor;
        var hr = maxc.eq(r).to(image.dtype) * (bc - gc);
        var hg = (maxc.eq(g) & maxc.ne(r)).to(image.dtype) * (rc - bc + 2.0);
        var hb = (maxc.ne(g) & maxc.ne(r)).to(image.dtype) * (gc - rc + 4.0);
        var hue = ((hr + hg + hb) / 6.0 + 1.0).fmod(1.0);
        return stack(new[] { hue, saturation, maxc }, dim: -3);
    }

    private static Tensor HsvToRgb(Tensor h, Tensor s, Tensor v)
    {
        var i = (h * 6.0).floor();
        var f = h * 6.0 - i;
        var sector = i.to(ScalarType.Int64).remainder(6);
        var p = (v * (1.0 - s)).clamp(0.0, 1.0);
        var q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
        var t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
        Tensor Pick(params Tensor[] bySector)
        {
            var result = zeros_like(v);
            for (int k = 0; k < 6; k++) result = where(sector.eq(k), bySector[k], result);
            return result;
        }
        return stack(new[] { Pick(v, q, p, p, t, v), Pick(t, v, v, q, p, p), Pick(p, p, t, v, v, q) }, dim: -3);
    }
}

/// <summary>
/// One epoch's augmentation parameters on the training device (see <see cref="BatchAugmenter.DrawEpoch"/>),
/// and the normalization as device tensors. Disposing frees them.
/// </summary>
public sealed class EpochDraws(Tensor? flips, Tensor? cosines, Tensor? sines, Tensor mean, Tensor std) : IDisposable
{
    /// <summary>Per image: flip horizontally (bool [N]), or null without flips.</summary>
    public Tensor? Flips { get; } = flips;

    /// <summary>Per image: cosine of the rotation angle (float32 [N]), or null without rotation.</summary>
    public Tensor? Cosines { get; } = cosines;

    /// <summary>Per image: sine of the rotation angle (float32 [N]), or null without rotation.</summary>
    public Tensor? Sines { get; } = sines;

    /// <summary>Normalization mean [1, 3, 1, 1].</summary>
    public Tensor Mean { get; } = mean;

    /// <summary>Normalization std [1, 3, 1, 1].</summary>
    public Tensor Std { get; } = std;

    /// <inheritdoc />
    public void Dispose()
    {
        Flips?.Dispose();
        Cosines?.Dispose();
        Sines?.Dispose();
        Mean.Dispose();
        Std.Dispose();
    }
}
