using Cifar.MLNet.Prediction;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Cifar.MLNet.Export;

/// <summary>
/// What a caller of the exported graph must do to an image before feeding it: what the zip's own ImageAnalytics
/// steps (resize, then pixel extraction) do, since the exported graph starts where they end. ML.NET keeps those
/// steps' settings internal, so they are measured: the steps run on two drawn images and their pixels are compared
/// with the layout described.
/// </summary>
/// <param name="PixelsColumn">The column the pixel extraction writes: the first ONNX graph's input.</param>
/// <param name="Dims">That column's dimensions: [channels, height, width].</param>
/// <param name="Resize">How an image is resized, in words.</param>
internal sealed record ImageInputContract(string PixelsColumn, long[] Dims, string Resize)
{
    /// <summary>Channels first, one plane per colour.</summary>
    public const string Layout = "NCHW";

    /// <summary>The colours' order.</summary>
    public const string ChannelOrder = "RGB";

    /// <summary>The values fed: the bytes as decoded, as floats.</summary>
    public const string PixelRange = "0-255";

    /// <summary>Reads the contract from the loaded chain.</summary>
    /// <exception cref="InvalidDataException">The chain's image steps give anything but planar RGB 0–255 pixels.</exception>
    public static ImageInputContract Of(MLContext ml, IEnumerable<ITransformer> chain, string name)
    {
        var steps = new TransformerChain<ITransformer>(chain.Where(t => t is ImageResizingTransformer or ImagePixelExtractingTransformer).ToArray());
        var imageSchema = ml.Data.LoadFromEnumerable(Array.Empty<InMemoryImageInput>()).Schema;
        var pixels = steps.GetOutputSchema(imageSchema)
            .FirstOrDefault(c => c.Type is VectorDataViewType { ItemType: var item, Dimensions.Length: 3 } && item == NumberDataViewType.Single);
        if (pixels.Name is null)
            throw new InvalidDataException($"{name}: not a Cifar model zip: its image steps give no channels × height × width pixels");
        var dims = ((VectorDataViewType)pixels.Type).Dimensions.Select(d => (long)d).ToArray();
        if (dims[0] != 3 || !GivesPlanarRgbBytes(ml, steps, pixels.Name, (int)dims[1], (int)dims[2]))
            throw new InvalidDataException(
                $"{name}: its image steps do not give [{string.Join(",", dims)}] pixels as planar RGB 0-255, the only input the ONNX export describes");
        return new ImageInputContract(pixels.Name, dims, Stretches(ml, steps, pixels.Name, (int)dims[1], (int)dims[2])
            ? $"stretched to {dims[2]}x{dims[1]} (width x height), aspect ratio ignored, as ML.NET ResizeImages (Fill) does; an image of that size is used as it is"
            : $"resized to {dims[2]}x{dims[1]} (width x height) as the zip's ML.NET ResizeImages does (not a plain stretch)");
    }

    /// <summary>An image of the target size, every pixel of its own colour, comes out as its R, G and B planes, unchanged.</summary>
    private static bool GivesPlanarRgbBytes(MLContext ml, ITransformer steps, string column, int height, int width)
    {
        static (byte R, byte G, byte B) Colour(int x, int y) => ((byte)((3 * x + 5 * y) % 251), (byte)((7 * x + 2 * y + 60) % 251), (byte)((x + 11 * y + 120) % 251));
        var values = Pixels(ml, steps, column, width, height, Colour);
        int plane = height * width;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var (r, g, b) = Colour(x, y);
                int i = y * width + x;
                if (values[i] != r || values[plane + i] != g || values[2 * plane + i] != b) return false;
            }
        return true;
    }

    /// <summary>
    /// An image twice the target height whose top quarter is one colour comes out with its top eighth in that
    /// colour and the rest, edges included, in the other: stretched, neither cropped nor padded.
    /// </summary>
    private static bool Stretches(MLContext ml, ITransformer steps, string column, int height, int width)
    {
        const byte top = 220, rest = 30;
        var red = Pixels(ml, steps, column, width, 2 * height, (_, y) => (y < height / 2 ? top : rest, 90, 140));
        bool Near(int x, int y, byte expected) => Math.Abs(red[y * width + x] - expected) <= 25;
        int edge = height / 4;
        return Near(0, 0, top) && Near(width - 1, edge - 2, top) && Near(0, edge + 2, rest) && Near(width - 1, height - 1, rest);
    }

    private static float[] Pixels(MLContext ml, ITransformer steps, string column, int width, int height, Func<int, int, (byte R, byte G, byte B)> colour)
    {
        var rgba = new byte[width * height * 4];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int k = (y * width + x) * 4;
                (rgba[k], rgba[k + 1], rgba[k + 2]) = colour(x, y);
                rgba[k + 3] = 255;
            }
        using var image = MLImage.CreateFromPixels(width, height, MLPixelFormat.Rgba32, rgba);
        var data = ml.Data.LoadFromEnumerable(new[] { new InMemoryImageInput { Image = image } });
        return steps.Transform(data).GetColumn<float[]>(column).Single();
    }
}
