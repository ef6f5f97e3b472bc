using System.Text.Json;
using Cifar.MLNet.Prediction;
using Cifar.Trainer.Onnx;
using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using Onnx;

namespace Cifar.MLNet.Export;

/// <summary>
/// What a caller of the exported graph must do to an image before feeding it, and what the graph must do to those
/// 0–255 pixels first: what the zip's own ImageAnalytics steps (resize, grey conversion, pixel extraction) do, since
/// the zip's ONNX graphs start where they end. ML.NET keeps those steps' settings internal, so they are measured: the
/// steps run on drawn images (ramps of grey, red, green and blue, a pattern of distinct colours, a two-colour image of
/// twice the height) and what comes out is compared with the description.
/// </summary>
/// <param name="PixelsColumn">The column the pixel extraction writes: the first ONNX graph's input.</param>
/// <param name="Dims">That column's dimensions: [channels, height, width].</param>
/// <param name="Resize">How an image is resized, in words.</param>
/// <param name="Extraction">What the pixel extraction does to the 0–255 values (its scale and offset).</param>
/// <param name="GreyWeights">For one channel: the weights of R, G and B in its grey value; null for RGB.</param>
internal sealed record ImageInputContract(string PixelsColumn, long[] Dims, string Resize, PixelExtraction Extraction, double[]? GreyWeights)
{
    /// <summary>Channels first, one plane per colour.</summary>
    public const string Layout = "NCHW";

    /// <summary>The values fed: the bytes as decoded (or the grey computed from them), as floats.</summary>
    public const string PixelRange = "0-255";

    /// <summary>The colours' order: "RGB", or "grey" for one channel.</summary>
    public string ChannelOrder => GreyWeights is null ? "RGB" : "grey";

    /// <summary>How a caller computes the grey plane from a colour image, in words; for RGB, that there is none.</summary>
    public string Grey => GreyWeights is not [var r, var g, var b]
        ? "none: the model reads the R, G and B planes"
        : $"round({Number(r)}*R + {Number(g)}*G + {Number(b)}*B) per pixel of the resized image, as ML.NET ConvertToGrayscale computes it "
          + "(weights measured, also in grey_weights); an image already grey (R = G = B) is its own grey";

    private static string Number(double value) => JsonSerializer.Serialize(value);

    /// <summary>Reads the contract from the loaded chain.</summary>
    /// <exception cref="InvalidDataException">The chain's image steps give anything the contract cannot describe; the message says what.</exception>
    public static ImageInputContract Of(MLContext ml, IEnumerable<ITransformer> chain, string name)
    {
        var steps = new TransformerChain<ITransformer>(chain
            .Where(t => t is ImageResizingTransformer or ImageGrayscalingTransformer or ImagePixelExtractingTransformer).ToArray());
        var imageSchema = ml.Data.LoadFromEnumerable(Array.Empty<InMemoryImageInput>()).Schema;
        if (CifarModel.PixelsColumn(steps.GetOutputSchema(imageSchema)) is not { } pixels)
            throw new InvalidDataException($"{name}: not a Cifar model zip: its image steps give no channels × height × width pixels");
        var dims = ((VectorDataViewType)pixels.Type).Dimensions.Select(d => (long)d).ToArray();
        string Refused(string why) => $"{name}: its image steps give [{string.Join(",", dims)}] values that the ONNX export cannot describe: {why}";
        if (dims[0] is not (1 or 3))
            throw new InvalidDataException(Refused("not 1 (grey) or 3 (RGB) planes, channels first"));

        var probe = new Probe(ml, steps, pixels.Name, (int)dims[0], (int)dims[1], (int)dims[2]);
        // A grey ramp gives every channel every byte value: what the extraction makes of each, and so how to undo it.
        var greyRamp = probe.Ramp(v => (v, v, v)) ?? throw new InvalidDataException(Refused("a pixel's value depends on where it is"));
        var extraction = PixelExtraction.Fit(greyRamp)
            ?? throw new InvalidDataException(Refused("they are not (byte - offset) * scale of the image's 0-255 bytes, as ExtractPixels' offsetImage and scaleImage give"));
        var decode = new Decoder(greyRamp);
        var weights = ColourWeights(probe, decode) ?? throw new InvalidDataException(Refused("a channel is not a rounded weighted sum of R, G and B"));
        if (dims[0] == 3 && !IsIdentity(weights))
            throw new InvalidDataException(Refused($"the 3 planes are not R, G and B in that order (they weigh R, G, B as {JsonSerializer.Serialize(weights)})"));
        double[]? greyWeights = dims[0] == 1 ? weights[0] : null;
        if (!KeepsEachPixelInPlace(probe, decode, weights))
            throw new InvalidDataException(Refused("an image of the target size does not come out pixel by pixel, planar, unresized"));
        string size = $"{dims[2]}x{dims[1]} (width x height)";
        string resize = Stretches(probe, decode)
            ? $"stretched to {size}, aspect ratio ignored, as ML.NET ResizeImages (Fill) does; an image of that size is used as it is"
            : CropsAroundTheCentre(probe, decode)
                ? $"cropped around the centre to the aspect ratio of {size}, then resized to it, as ML.NET ResizeImages (IsoCrop, the default) does; an image of that size is used as it is"
                : $"resized to {size} as the zip's ML.NET ResizeImages does (neither a plain stretch nor a centre crop)";
        return new ImageInputContract(pixels.Name, dims, resize, extraction, greyWeights);
    }

    /// <summary>
    /// Each channel's weights of R, G and B: from a ramp of each colour alone, the shortest decimals whose weighted
    /// byte, rounded, is what every step of the ramp gives (0.3, 0.59, 0.11 for ML.NET's grey; 1 and 0s for a plane).
    /// </summary>
    private static double[][]? ColourWeights(Probe probe, Decoder decode)
    {
        var weights = new double[probe.Channels][];
        for (int c = 0; c < probe.Channels; c++) weights[c] = new double[3];
        for (int colour = 0; colour < 3; colour++)
        {
            int k = colour;
            var ramp = probe.Ramp(v => (k == 0 ? v : (byte)0, k == 1 ? v : (byte)0, k == 2 ? v : (byte)0));
            if (ramp is null) return null;
            for (int c = 0; c < probe.Channels; c++)
            {
                var bytes = new int[256];
                for (int v = 0; v < 256; v++)
                    if (decode.Byte(c, ramp[c][v]) is { } b) bytes[v] = b;
                    else return null;
                if (ShortestWeight(bytes) is not { } w) return null;
                weights[c][colour] = w;
            }
        }
        return weights;
    }

    /// <summary>The decimal with fewest digits w such that round(w · v) = bytes[v] for every v (ties either way), or null.</summary>
    private static double? ShortestWeight(int[] bytes)
    {
        if (bytes[0] != 0) return null;
        const double tie = 1e-9;
        double low = double.NegativeInfinity, high = double.PositiveInfinity;
        for (int v = 1; v < bytes.Length; v++)
        {
            low = Math.Max(low, (bytes[v] - 0.5) / v - tie);
            high = Math.Min(high, (bytes[v] + 0.5) / v + tie);
        }
        for (int digits = 0; digits <= 6; digits++)
        {
            double unit = Math.Pow(10, digits), w = Math.Round(Math.Ceiling(low * unit) / unit, digits) + 0.0; // + 0.0: no −0
            if (w <= high) return w;
        }
        return null;
    }

    private static bool IsIdentity(double[][] weights) =>
        weights.Select((row, c) => row.Select((w, k) => w == (c == k ? 1 : 0)).All(b => b)).All(b => b);

    /// <summary>
    /// An image of the target size, every pixel of its own colour, comes out with each pixel in its place: R, G and B
    /// unchanged in their planes, or the grey the weights give (within 1, as the grey is rounded).
    /// </summary>
    private static bool KeepsEachPixelInPlace(Probe probe, Decoder decode, double[][] weights)
    {
        static (byte R, byte G, byte B) Colour(int x, int y) => ((byte)((3 * x + 5 * y) % 251), (byte)((7 * x + 2 * y + 60) % 251), (byte)((x + 11 * y + 120) % 251));
        var values = probe.Run(probe.Width, probe.Height, [Colour])[0];
        int plane = probe.Height * probe.Width;
        for (int y = 0; y < probe.Height; y++)
            for (int x = 0; x < probe.Width; x++)
            {
                var (r, g, b) = Colour(x, y);
                for (int c = 0; c < probe.Channels; c++)
                {
                    double expected = weights[c][0] * r + weights[c][1] * g + weights[c][2] * b;
                    if (decode.Byte(c, values[c * plane + y * probe.Width + x]) is not { } actual || Math.Abs(actual - expected) > 1) return false;
                }
            }
        return true;
    }

    /// <summary>
    /// An image twice the target height whose top quarter is one grey comes out with its top eighth in that grey and
    /// the rest, edges included, in the other: stretched, neither cropped nor padded.
    /// </summary>
    private static bool Stretches(Probe probe, Decoder decode)
    {
        const byte top = 220, rest = 30;
        int width = probe.Width, height = probe.Height;
        var first = probe.Run(width, 2 * height, [(_, y) => y < height / 2 ? (top, top, top) : (rest, rest, rest)])[0];
        bool Near(int x, int y, byte expected) => decode.Byte(0, first[y * width + x]) is { } b && Math.Abs(b - expected) <= 25;
        int edge = height / 4;
        return Near(0, 0, top) && Near(width - 1, Math.Max(0, edge - 2), top) && Near(0, Math.Min(height - 1, edge + 2), rest) && Near(width - 1, height - 1, rest);
    }

    /// <summary>
    /// An image twice the target height, and one twice the width, whose outer quarters are one grey come out in the
    /// other grey at every edge: cropped to the middle half, keeping the aspect ratio.
    /// </summary>
    private static bool CropsAroundTheCentre(Probe probe, Decoder decode)
    {
        const byte outer = 220, middle = 30;
        int width = probe.Width, height = probe.Height;
        static bool Outer(int at, int length) => at < length / 4 || at >= length - length / 4;
        var tall = probe.Run(width, 2 * height, [(_, y) => Outer(y, 2 * height) ? (outer, outer, outer) : (middle, middle, middle)])[0];
        var wide = probe.Run(2 * width, height, [(x, _) => Outer(x, 2 * width) ? (outer, outer, outer) : (middle, middle, middle)])[0];
        bool Middle(float[] values, int x, int y) => decode.Byte(0, values[y * width + x]) is { } b && Math.Abs(b - middle) <= 25;
        return new[] { tall, wide }.All(v => Middle(v, 0, 0) && Middle(v, width - 1, 0) && Middle(v, 0, height - 1) && Middle(v, width - 1, height - 1));
    }

    /// <summary>The zip's image steps, run on drawn images.</summary>
    private sealed class Probe(MLContext ml, ITransformer steps, string column, int channels, int height, int width)
    {
        public int Channels => channels;
        public int Height => height;
        public int Width => width;

        /// <summary>
        /// What every byte value 0–255 of <paramref name="colour"/> comes out as, per channel ([channel][value]), from
        /// images of the target size; null when one value comes out differently in different places.
        /// </summary>
        public float[][]? Ramp(Func<byte, (byte R, byte G, byte B)> colour)
        {
            int plane = height * width, images = (256 + plane - 1) / plane;
            var drawn = Enumerable.Range(0, images)
                .Select(n => (Func<int, int, (byte, byte, byte)>)((x, y) => colour((byte)((n * plane + y * width + x) % 256))))
                .ToArray();
            var runs = Run(width, height, drawn);
            var ramp = new float[channels][];
            for (int c = 0; c < channels; c++)
            {
                ramp[c] = new float[256];
                var seen = new bool[256];
                for (int n = 0; n < images; n++)
                    for (int i = 0; i < plane; i++)
                    {
                        int value = (n * plane + i) % 256;
                        float got = runs[n][c * plane + i];
                        if (seen[value] && !ramp[c][value].Equals(got)) return null;
                        (ramp[c][value], seen[value]) = (got, true);
                    }
            }
            return ramp;
        }

        /// <summary>The steps' values for each drawn image (<paramref name="imageWidth"/> × <paramref name="imageHeight"/>, opaque).</summary>
        public float[][] Run(int imageWidth, int imageHeight, IReadOnlyList<Func<int, int, (byte R, byte G, byte B)>> colours)
        {
            var images = colours.Select(colour =>
            {
                var rgba = new byte[imageWidth * imageHeight * 4];
                for (int y = 0; y < imageHeight; y++)
                    for (int x = 0; x < imageWidth; x++)
                    {
                        int k = (y * imageWidth + x) * 4;
                        (rgba[k], rgba[k + 1], rgba[k + 2]) = colour(x, y);
                        rgba[k + 3] = 255;
                    }
                return MLImage.CreateFromPixels(imageWidth, imageHeight, MLPixelFormat.Rgba32, rgba);
            }).ToArray();
            try
            {
                var data = ml.Data.LoadFromEnumerable(images.Select(image => new InMemoryImageInput { Image = image }).ToArray());
                return steps.Transform(data).GetColumn<float[]>(column).ToArray();
            }
            finally
            {
                foreach (var image in images) image.Dispose();
            }
        }
    }

    /// <summary>Each channel's values back to the byte that gives them, from the grey ramp (exact: a value either is one of the 256 or is not).</summary>
    private sealed class Decoder(float[][] greyRamp)
    {
        private readonly Dictionary<float, int>[] _bytes = greyRamp
            .Select(values => values.Select((v, b) => (v, b)).GroupBy(p => p.v).ToDictionary(g => g.Key, g => g.First().b)).ToArray();

        public int? Byte(int channel, float value) => _bytes[channel].TryGetValue(value, out var b) ? b : null;
    }
}

/// <summary>
/// What the zip's ExtractPixels does to each channel's 0–255 byte: (byte − Offset[c]) · Scale[c] in float32, as ML.NET
/// computes it from its offsetImage and scaleImage (0 and 1 for our loading stage: the bytes as they are). Measured,
/// and put in front of the exported graph so that it, too, starts from the bytes.
/// </summary>
internal sealed record PixelExtraction(float[] Offset, float[] Scale)
{
    /// <summary>Whether the values are the bytes as they are.</summary>
    public bool IsIdentity => Offset.All(o => o == 0) && Scale.All(s => s == 1);

    /// <summary>The same map as x · scale + offset, to compose with the normalization's.</summary>
    public ChannelAffine Affine => new(Scale.Select(s => (double)s).ToArray(), Offset.Select((o, c) => -(double)o * Scale[c]).ToArray());

    /// <summary>
    /// The offset and scale that give each channel's ramp (its value for each byte 0–255): float32 values that
    /// reproduce it exactly where a few neighbours of the fitted ones do, else the fitted ones if within 1e-6 of the
    /// largest value; null when no such map fits.
    /// </summary>
    public static PixelExtraction? Fit(float[][] ramp)
    {
        var offset = new float[ramp.Length];
        var scale = new float[ramp.Length];
        for (int c = 0; c < ramp.Length; c++)
        {
            if (FitChannel(ramp[c]) is not var (o, s)) return null;
            (offset[c], scale[c]) = (o, s);
        }
        return new PixelExtraction(offset, scale);
    }

    private static (float Offset, float Scale)? FitChannel(float[] values)
    {
        double scale = ((double)values[255] - values[0]) / 255;
        if (scale == 0 || !double.IsFinite(scale)) return null;
        double offset = -values[0] / scale;
        static float Value(int b, float o, float s) => (b - o) * s; // ML.NET's order: offset first, then scale
        double Error(float o, float s) => Enumerable.Range(0, 256).Max(b => Math.Abs((double)Value(b, o, s) - values[b]));
        // ML.NET's own constants reproduce every value bit for bit; the fit lands within a few units in the last place of them.
        var offsets = Neighbours((float)offset).Append(MathF.Round((float)offset)).Distinct().ToArray();
        foreach (var s in Neighbours((float)scale))
            foreach (var o in offsets)
                if (Enumerable.Range(0, 256).All(b => Value(b, o, s).Equals(values[b]))) return (o, s);
        double largest = values.Max(v => Math.Abs((double)v));
        return Error((float)offset, (float)scale) <= 1e-6 * Math.Max(1, largest) ? ((float)offset, (float)scale) : null;
    }

    private static IEnumerable<float> Neighbours(float value)
    {
        yield return value;
        float up = value, down = value;
        for (int i = 0; i < 4; i++)
        {
            up = MathF.BitIncrement(up);
            down = MathF.BitDecrement(down);
            yield return up;
            yield return down;
        }
    }

    /// <summary>
    /// The ONNX graph of this map over one image of <paramref name="dims"/> ([C, H, W]): Sub then Mul by per-channel
    /// constants, in ML.NET's order so that float32 gives the same values; it imports operator set <paramref name="operatorSet"/>,
    /// the zip's graphs' own, as one combined graph has one.
    /// </summary>
    public ModelProto Graph(long[] dims, long operatorSet)
    {
        var g = new OnnxGraphBuilder("pixel_extraction");
        var x = g.FloatInput("bytes", dims);
        long[] perChannel = [dims[0], 1, 1];
        x = g.Node("Sub", [x, g.Constant("offset", Offset, perChannel)]);
        g.Node("Mul", [x, g.Constant("scale", Scale, perChannel)], "values");
        g.Output("values", TensorProto.Types.DataType.Float, dims);
        var model = ModelProto.Parser.ParseFrom(g.ToModelBytes("Cifar.MLNet"));
        model.OpsetImport.Single().Version = operatorSet;
        return model;
    }
}
