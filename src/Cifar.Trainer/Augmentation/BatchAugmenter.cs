using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Augmentation;

/// <summary>
/// Applies <see cref="AugmentationSettings"/> to whole batches of normalized images on their own
/// device, drawing every random parameter per image from a seeded generator (kept on the CPU so a
/// seed gives the same draws on every device). Pixel operations follow torchvision's tensor
/// definitions (<c>torchvision.transforms.functional</c>), done in [0, 1] pixel space: batches are
/// un-normalized first and normalized again after, so zero fill means black as in the tutorial.
/// </summary>
public sealed class BatchAugmenter
{
    private readonly AugmentationSettings _settings;
    private readonly float[] _mean;
    private readonly float[] _std;

    /// <summary>Creates an augmenter for images normalized with <paramref name="normalization"/>.</summary>
    public BatchAugmenter(AugmentationSettings settings, PixelNormalization normalization)
    {
        _settings = settings;
        _mean = normalization.Mean.ToArray();
        _std = normalization.Std.ToArray();
    }

    /// <summary>The settings this augmenter applies.</summary>
    public AugmentationSettings Settings => _settings;

    /// <summary>Augments a normalized batch [N, 3, H, W]; returns a new tensor (the input when identity).</summary>
    public Tensor Apply(Tensor normalizedBatch, Generator generator)
    {
        if (_settings.IsIdentity) return normalizedBatch;
        var device = normalizedBatch.device;
        using var mean = tensor(_mean, device: device).view(1, 3, 1, 1);
        using var std = tensor(_std, device: device).view(1, 3, 1, 1);
        var pixels = normalizedBatch * std + mean;
        pixels = ApplyToPixels(pixels, generator);
        return (pixels - mean) / std;
    }

    /// <summary>Augments a batch of [0, 1] pixels [N, 3, H, W]; returns a new tensor.</summary>
    public Tensor ApplyToPixels(Tensor pixels, Generator generator)
    {
        long n = pixels.shape[0];
        if (_settings.HorizontalFlipProbability > 0)
        {
            var flip = (rand(n, generator: generator) < _settings.HorizontalFlipProbability).to(pixels.device);
            pixels = where(flip.view(n, 1, 1, 1), pixels.flip(3), pixels);
        }
        if (_settings.HasColorJitter)
            pixels = ColorJitter(pixels, generator);
        if (_settings.RotationDegrees > 0)
        {
            double d = _settings.RotationDegrees;
            var degrees = rand(n, dtype: ScalarType.Float64, generator: generator) * (2 * d) - d;
            pixels = Rotate(pixels, degrees.to(pixels.device));
        }
        return pixels;
    }

    /// <summary>
    /// Rotates each image [N, C, H, W] counter-clockwise by its angle in degrees [N] about the image
    /// centre, nearest neighbour, zero fill: torchvision's <c>F.rotate</c> on tensors
    /// (inverse affine grid over pixel centres, <c>grid_sample(mode="nearest", align_corners=False)</c>).
    /// </summary>
    public static Tensor Rotate(Tensor images, Tensor degrees)
    {
        long n = images.shape[0], h = images.shape[2], w = images.shape[3];
        var device = images.device;
        var radians = degrees.to(ScalarType.Float64) * (Math.PI / 180.0);
        var cos = radians.cos().to(ScalarType.Float32).view(n, 1, 1);
        var sin = radians.sin().to(ScalarType.Float32).view(n, 1, 1);
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
            double? brightness = Factor(_settings.Brightness, generator);
            double? contrast = Factor(_settings.Contrast, generator);
            double? saturation = Factor(_settings.Saturation, generator);
            double? hue = _settings.Hue > 0 ? Uniform(-_settings.Hue, _settings.Hue, generator) : null;
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
