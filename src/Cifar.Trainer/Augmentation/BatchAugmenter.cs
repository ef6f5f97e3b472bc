using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Augmentation;

/// <summary>
/// Applies <see cref="AugmentationOptions"/> to whole batches of [0, 1] pixels on their own device. Every
/// random parameter of an epoch is drawn at its start (<see cref="DrawEpoch"/>) from seeded generators
/// kept on the CPU, so a seed gives the same draws on every device and a GPU gets no host-to-device copy
/// per step; <see cref="Apply(Tensor, EpochDraws, Tensor, long)"/> then augments each batch with its share,
/// in this order: flip, translation, colour jitter, rotation (flip and translation as airbench applies them,
/// the rest in torchvision's <c>Compose</c> order). The pixel operations follow torchvision's tensor definitions
/// (<c>torchvision.transforms.functional</c>): zero fill is black, as in the tutorial.
/// </summary>
internal sealed class BatchAugmenter(AugmentationOptions settings)
{
    private readonly AugmentationOptions _settings = settings;

    /// <summary>The settings this augmenter applies.</summary>
    public AugmentationOptions Settings => _settings;

    /// <summary>
    /// Augments one batch of [0, 1] pixels [N, C, H, W] (C = 3 for RGB, 1 for grey), drawing its parameters from <paramref name="generator"/>
    /// (the draws of a first epoch that is this one batch, image i being the batch's i-th; alternating flips come
    /// from the generator's initial seed); returns a new tensor, or the input for the identity.
    /// </summary>
    public Tensor Apply(Tensor pixels, Generator generator)
    {
        long n = pixels.shape[0];
        using var draws = DrawEpoch(n, (int)n, 1, (ulong)generator.initial_seed(), generator, pixels.device);
        using var indices = arange(n, device: pixels.device);
        return Apply(pixels, draws, indices, 0);
    }

    /// <summary>
    /// Augments the batch of [0, 1] pixels that holds images <paramref name="start"/> .. start + N − 1 of an
    /// epoch, with the parameters <see cref="DrawEpoch"/> drew: flip, translation, colour jitter, rotation.
    /// Draws made per position in the epoch are taken from <paramref name="start"/> on; alternating flips,
    /// made per image, are taken at the images' dataset <paramref name="indices"/> (int64 [N], on the pixels'
    /// device). Returns a new tensor, or the input for the identity.
    /// </summary>
    public Tensor Apply(Tensor pixels, EpochDraws draws, Tensor indices, long start)
    {
        long n = pixels.shape[0];
        if (draws.Flips is { } flips) pixels = Flip(pixels, flips.narrow(0, start, n));
        if (draws.FlipsByImage is { } byImage) pixels = Flip(pixels, byImage.index_select(0, indices));
        if (draws.RowShifts is { } rows)
            pixels = Translate(pixels, rows.narrow(0, start, n), draws.ColumnShifts!.narrow(0, start, n), _settings.Translate);
        if (draws.ColorJitter is { } jitter) pixels = ColorJitter(pixels, jitter.AsSpan((int)start, (int)n));
        if (draws.Cosines is { } cos) pixels = Rotate(pixels, cos.narrow(0, start, n), draws.Sines!.narrow(0, start, n));
        return pixels;
    }

    /// <summary>
    /// Draws every parameter of epoch <paramref name="epoch"/> (1-based; <paramref name="count"/> images in batches of
    /// <paramref name="batchSize"/>) and moves the tensors to <paramref name="device"/> once. From
    /// <paramref name="generator"/>, batch by batch in the order they apply (torchvision's for its transforms): the
    /// batch's flips (unless they alternate), its translation shifts, then each image's colour-jitter order and
    /// factors, then the batch's angles. Options that are off draw nothing, so their draws stay where they were.
    /// Alternating flips are per dataset image and follow from <paramref name="imageSeed"/> and
    /// <paramref name="epoch"/> alone (the trainer passes its seed + 2: the shuffle and the epoch generator have seed
    /// and seed + 1).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epoch"/> is below 1.</exception>
    public EpochDraws DrawEpoch(long count, int batchSize, int epoch, ulong imageSeed, Generator generator, Device device)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(epoch, 1);
        // Every temporary dies with the scope; only the results leave it.
        using var scope = NewDisposeScope();
        bool alternate = _settings.HasFlips && _settings.AlternateFlips;
        var flips = new List<Tensor>();
        var shifts = new List<Tensor>();
        var degrees = new List<Tensor>();
        var jitter = _settings.HasColorJitter ? new ColorJitterDraw[count] : null;
        for (long start = 0; start < count; start += batchSize)
        {
            long n = Math.Min(batchSize, count - start);
            if (!alternate && _settings.FlipProbability > 0) flips.Add(DrawFlips(n, generator));
            if (_settings.Translate > 0) shifts.Add(DrawShifts(n, generator));
            if (jitter is not null)
                for (long i = start; i < start + n; i++) jitter[i] = DrawColorJitter(generator);
            if (_settings.RotationDegrees > 0) degrees.Add(DrawDegrees(n, generator));
        }
        var byImage = alternate ? AlternatingFlips(count, epoch, imageSeed).to(device) : null;
        // Shifts [count, 2]: row then column, split once here so each batch narrows two flat tensors.
        var allShifts = shifts.Count > 0 ? cat(shifts).to(device) : null;
        // The angles' cosines and sines are computed once per epoch (elementwise: the per-batch numbers).
        var (cos, sin) = degrees.Count > 0 ? CosSin(cat(degrees).to(device)) : (null, null);
        return new EpochDraws(
            flips.Count > 0 ? cat(flips).to(device).MoveToOuterDisposeScope() : null,
            byImage?.MoveToOuterDisposeScope(),
            allShifts?.select(1, 0).contiguous().MoveToOuterDisposeScope(),
            allShifts?.select(1, 1).contiguous().MoveToOuterDisposeScope(),
            jitter,
            cos?.MoveToOuterDisposeScope(), sin?.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Epoch <paramref name="epoch"/>'s alternating flips, per dataset image (bool [count]): the first epoch's are
    /// drawn with the flip probability, every later epoch inverts the one before, so odd epochs repeat the first and
    /// even ones invert it.
    /// </summary>
    private Tensor AlternatingFlips(long count, int epoch, ulong imageSeed)
    {
        // A generator of their own, made from the seed each epoch, rather than the epoch generator: training resumes
        // from a checkpoint at an epoch boundary, and any epoch's flips must follow from the seed alone, without
        // replaying the epochs before it; the other draws' sequence is left as it was.
        using var imageGenerator = new Generator(imageSeed);
        var first = rand(count, generator: imageGenerator) < _settings.HorizontalFlipProbability;
        return epoch % 2 == 1 ? first : first.logical_not();
    }

    private Tensor DrawFlips(long n, Generator generator) => rand(n, generator: generator) < _settings.FlipProbability;

    /// <summary>Row and column shifts [n, 2] (int64), each uniform in [−t, t]: airbench's <c>batch_crop</c> draw.</summary>
    private Tensor DrawShifts(long n, Generator generator) =>
        randint(-_settings.Translate, _settings.Translate + 1, new long[] { n, 2 }, dtype: ScalarType.Int64, generator: generator);

    private Tensor DrawDegrees(long n, Generator generator)
    {
        double d = _settings.RotationDegrees;
        return rand(n, dtype: ScalarType.Float64, generator: generator) * (2 * d) - d;
    }

    /// <summary>
    /// Translates each image [N, C, H, W] by its shifts (int64 [N] each, in [−pad, pad], on the images' device):
    /// the image reflect-padded by <paramref name="pad"/> on every side, cropped back to H × W with its top-left
    /// corner at (pad + rowShift, pad + columnShift). Output pixel (y, x) is input pixel (y + rowShift, x + columnShift),
    /// reflected about the border row or column (without repeating it) where that falls outside.
    /// </summary>
    public static Tensor Translate(Tensor images, Tensor rowShifts, Tensor columnShifts, int pad)
    {
        long n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        var device = images.device;
        var padded = nn.functional.pad(images, new long[] { pad, pad, pad, pad }, PaddingModes.Reflect);
        // Batched crop without a per-image loop: gather each image's rows, then its columns, by index tensors.
        var rows = (arange(h, device: device).view(1, 1, h, 1) + (rowShifts.view(n, 1, 1, 1) + pad)).expand(n, c, h, w + 2 * pad);
        var columns = (arange(w, device: device).view(1, 1, 1, w) + (columnShifts.view(n, 1, 1, 1) + pad)).expand(n, c, h, w);
        return padded.gather(2, rows).gather(3, columns);
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

    /// <summary>One image's ColorJitter draw: torchvision draws a fresh order of the four adjustments and fresh factors per image.</summary>
    private ColorJitterDraw DrawColorJitter(Generator generator)
    {
        var jitter = _settings.ColorJitter;
        var order = randperm(4, generator: generator).data<long>().ToArray();
        double? brightness = Factor(jitter.Brightness, generator);
        double? contrast = Factor(jitter.Contrast, generator);
        double? saturation = Factor(jitter.Saturation, generator);
        double? hue = jitter.Hue > 0 ? Uniform(-jitter.Hue, jitter.Hue, generator) : null;
        return new ColorJitterDraw(order, brightness, contrast, saturation, hue);
    }

    private static Tensor ColorJitter(Tensor pixels, ReadOnlySpan<ColorJitterDraw> draws)
    {
        var images = new Tensor[draws.Length];
        for (int i = 0; i < draws.Length; i++)
        {
            var image = pixels[i];
            var draw = draws[i];
            foreach (var step in draw.Order)
            {
                image = step switch
                {
                    0 when draw.Brightness is { } b => AdjustBrightness(image, b),
                    1 when draw.Contrast is { } c => AdjustContrast(image, c),
                    2 when draw.Saturation is { } s => AdjustSaturation(image, s),
                    3 when draw.Hue is { } h => AdjustHue(image, h),
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

    /// <summary>torchvision <c>adjust_saturation</c>: blend with the image's grey version; a grey image stays as it is.</summary>
    public static Tensor AdjustSaturation(Tensor image, double factor) =>
        IsGray(image) ? image : Blend(image, Grayscale(image), factor);

    /// <summary>torchvision <c>adjust_hue</c>: shift the hue (in turns, [−0.5, 0.5]) in HSV space; a grey image has none.</summary>
    public static Tensor AdjustHue(Tensor image, double shift)
    {
        if (IsGray(image)) return image;
        var hsv = RgbToHsv(image).unbind(-3);
        var hue = (hsv[0] + shift).remainder(1.0);
        return HsvToRgb(hue, hsv[1], hsv[2]);
    }

    private static Tensor Blend(Tensor image, Tensor other, double ratio) =>
        (image * ratio + other * (1.0 - ratio)).clamp(0.0, 1.0);

    private static bool IsGray(Tensor image) => image.shape[^3] == 1;

    private static Tensor Grayscale(Tensor image)
    {
        if (IsGray(image)) return image;
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

/// <summary>One image's colour-jitter parameters: the order of the four adjustments (0–3) and each factor, null when off.</summary>
internal sealed record ColorJitterDraw(long[] Order, double? Brightness, double? Contrast, double? Saturation, double? Hue);

/// <summary>
/// One epoch's augmentation parameters (see <see cref="BatchAugmenter.DrawEpoch"/>): the tensors on the training
/// device, the per-image colour jitter on the host (it steers per-image operations). Disposing frees the tensors.
/// </summary>
internal sealed class EpochDraws(Tensor? flips, Tensor? flipsByImage, Tensor? rowShifts, Tensor? columnShifts,
    ColorJitterDraw[]? colorJitter, Tensor? cosines, Tensor? sines) : IDisposable
{
    /// <summary>Per position in the epoch: flip horizontally (bool [N]), or null without (fresh) flips.</summary>
    public Tensor? Flips { get; } = flips;

    /// <summary>Per dataset image: flip horizontally (bool [count]), or null without alternating flips.</summary>
    public Tensor? FlipsByImage { get; } = flipsByImage;

    /// <summary>Per position: the translation's row shift (int64 [N]), or null without translation.</summary>
    public Tensor? RowShifts { get; } = rowShifts;

    /// <summary>Per position: the translation's column shift (int64 [N]), or null without translation.</summary>
    public Tensor? ColumnShifts { get; } = columnShifts;

    /// <summary>Per position: the colour jitter, or null without it.</summary>
    public ColorJitterDraw[]? ColorJitter { get; } = colorJitter;

    /// <summary>Per position: cosine of the rotation angle (float32 [N]), or null without rotation.</summary>
    public Tensor? Cosines { get; } = cosines;

    /// <summary>Per position: sine of the rotation angle (float32 [N]), or null without rotation.</summary>
    public Tensor? Sines { get; } = sines;

    /// <inheritdoc />
    public void Dispose()
    {
        Flips?.Dispose();
        FlipsByImage?.Dispose();
        RowShifts?.Dispose();
        ColumnShifts?.Dispose();
        Cosines?.Dispose();
        Sines?.Dispose();
    }
}
