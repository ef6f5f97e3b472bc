using Cifar.MLNet.Data;
using Cifar.MLNet.Stages;
using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet;

/// <summary>Reads the 0–255 pixels and labels of a data view into a byte tensor set, once.</summary>
internal static class TrainingDataReader
{
    /// <summary>
    /// Reads every row. An image file that cannot be decoded stops the read with an error naming it
    /// (drop such files before the loading stage with <see cref="CifarDataLoader.WithoutUndecodableImages"/>).
    /// </summary>
    /// <param name="data">Rows with the pixels vector and key label.</param>
    /// <param name="pixelsColumnName">The pixels column (3×32×32 floats, integers 0–255, channels first).</param>
    /// <param name="labelColumnName">The key label column.</param>
    /// <param name="what">How errors name the data ("training data").</param>
    /// <param name="normalization">How the trainer normalizes the pixels (the normalization stage's).</param>
    public static TensorDataset Read(IDataView data, string pixelsColumnName, string labelColumnName, string what,
        PixelNormalization normalization)
    {
        try
        {
            return ReadAll(data, pixelsColumnName, labelColumnName, what, normalization);
        }
        catch (Exception e) when (e.GetBaseException() is CifarDataException named)
        {
            // Already one line naming the file (an image refused before decoding).
            throw named;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or FormatException
                                  && CifarDataLoader.FirstUndecodableImage(data) is { } bad)
        {
            // ML.NET decodes ahead on worker threads, so the failing row is found again by its path.
            throw new CifarDataException($"{bad}: cannot be decoded as an image ({ErrorText.FirstLine(e.GetBaseException().Message)})");
        }
    }

    private static TensorDataset ReadAll(IDataView data, string pixelsColumnName, string labelColumnName, string what,
        PixelNormalization normalization)
    {
        var pixelsColumn = data.Schema[pixelsColumnName];
        var labelColumn = data.Schema[labelColumnName];
        // Fixed-size chunks: no List doubling of a 150 MB array.
        const int chunkImages = 1024;
        var chunks = new List<byte[]>();
        var labels = new List<long>();
        using var cursor = data.GetRowCursor(new[] { pixelsColumn, labelColumn });
        var getPixels = cursor.GetGetter<VBuffer<float>>(pixelsColumn);
        var getLabel = cursor.GetGetter<uint>(labelColumn);
        VBuffer<float> row = default;
        var dense = new float[CifarImage.Size];
        uint key = 0;
        while (cursor.MoveNext())
        {
            getLabel(ref key);
            if (key == 0)
                throw new InvalidOperationException($"{what} row {cursor.Position} has no label (a value outside the label's key set)");
            getPixels(ref row);
            if (row.Length != CifarImage.Size)
                throw new InvalidOperationException($"{what} row {cursor.Position} has {row.Length} pixel values, expected {CifarImage.Size}");
            int slot = labels.Count % chunkImages;
            if (slot == 0) chunks.Add(new byte[chunkImages * CifarImage.Size]);
            row.CopyTo(dense);
            if (!ToBytes(dense, chunks[^1].AsSpan(slot * CifarImage.Size, CifarImage.Size)))
                throw new InvalidOperationException(
                    $"{what} row {cursor.Position}: column '{pixelsColumnName}' holds a value that is not a whole number 0–255; the trainer reads the loading stage's pixels");
            labels.Add(key - 1);
        }
        if (labels.Count == 0) throw new InvalidOperationException($"{what} has no rows");
        var pixels = new byte[labels.Count * CifarImage.Size];
        for (int c = 0; c < chunks.Count; c++)
        {
            int offset = c * chunkImages * CifarImage.Size;
            chunks[c].AsSpan(0, Math.Min(chunks[c].Length, pixels.Length - offset)).CopyTo(pixels.AsSpan(offset));
        }
        return TensorDataset.FromArrays(pixels, labels.ToArray(), CifarImage.Channels, CifarImage.Height, CifarImage.Width, normalization);
    }

    private static bool ToBytes(ReadOnlySpan<float> values, Span<byte> pixels)
    {
        for (int i = 0; i < values.Length; i++)
        {
            float value = values[i];
            if (!(value >= 0 && value <= 255) || value != MathF.Floor(value)) return false;
            pixels[i] = (byte)value;
        }
        return true;
    }
}
