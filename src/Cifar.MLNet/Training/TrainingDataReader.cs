using Cifar.MLNet.Data;
using Cifar.MLNet.Stages;
using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet;

/// <summary>Reads the images and labels of a data view into a tensor set, once: 0–255 pixels as bytes, or float features as they are.</summary>
internal static class TrainingDataReader
{
    /// <summary>
    /// Reads every row. An image file that cannot be decoded stops the read with an error naming it
    /// (drop such files before the loading stage with <see cref="CifarDataLoader.WithoutUndecodableImages"/>).
    /// </summary>
    /// <param name="data">Rows with the pixels vector and key label.</param>
    /// <param name="imageColumnName">The image column: floats of <paramref name="format"/>, channels first.</param>
    /// <param name="labelColumnName">The key label column.</param>
    /// <param name="what">How errors name the data ("training data").</param>
    /// <param name="format">The images' shape.</param>
    /// <param name="normalization">
    /// How the trainer normalizes 0–255 pixels (the normalization stage's): each value must then be a whole number
    /// 0–255, kept as a byte. Null: the values are features, kept as floats.
    /// </param>
    public static TensorDataset Read(IDataView data, string imageColumnName, string labelColumnName, string what,
        ImageFormat format, PixelNormalization? normalization)
    {
        try
        {
            return normalization is null
                ? ReadAll<float>(data, imageColumnName, labelColumnName, what, format, ToFloats, "is not a finite number",
                    (values, labels) => TensorDataset.FromFeatures(values, labels, format.Channels, format.Height, format.Width))
                : ReadAll<byte>(data, imageColumnName, labelColumnName, what, format, ToBytes,
                    "is not a whole number 0–255; the trainer reads the loading stage's pixels",
                    (values, labels) => TensorDataset.FromArrays(values, labels, format.Channels, format.Height, format.Width, normalization));
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

    /// <summary>Converts one image's values; false when one is not allowed.</summary>
    private delegate bool Convert<T>(ReadOnlySpan<float> values, Span<T> image);

    private static TensorDataset ReadAll<T>(IDataView data, string imageColumnName, string labelColumnName, string what,
        ImageFormat format, Convert<T> convert, string refusal, Func<T[], long[], TensorDataset> create)
    {
        var imageColumn = data.Schema[imageColumnName];
        var labelColumn = data.Schema[labelColumnName];
        int size = format.Size;
        // Fixed-size chunks: no List doubling of a 150 MB array.
        int chunkImages = Math.Max(1, (1 << 22) / size);
        var chunks = new List<T[]>();
        var labels = new List<long>();
        using var cursor = data.GetRowCursor(new[] { imageColumn, labelColumn });
        var getImage = cursor.GetGetter<VBuffer<float>>(imageColumn);
        var getLabel = cursor.GetGetter<uint>(labelColumn);
        VBuffer<float> row = default;
        var dense = new float[size];
        uint key = 0;
        while (cursor.MoveNext())
        {
            getLabel(ref key);
            if (key == 0)
                throw new InvalidOperationException($"{what} row {cursor.Position} has no label (a value outside the label's key set)");
            getImage(ref row);
            if (row.Length != size)
                throw new InvalidOperationException($"{what} row {cursor.Position} has {row.Length} values, expected {size} ({format})");
            if ((long)(labels.Count + 1) * size > Array.MaxLength)
                throw new InvalidOperationException(
                    $"{what}: more than {labels.Count} images of {format} ({size} values each) do not fit in one array; take fewer (Data:TrainLimit) or smaller images");
            int slot = labels.Count % chunkImages;
            if (slot == 0) chunks.Add(new T[chunkImages * size]);
            row.CopyTo(dense);
            if (!convert(dense, chunks[^1].AsSpan(slot * size, size)))
                throw new InvalidOperationException(
                    $"{what} row {cursor.Position}: column '{imageColumnName}' holds a value that {refusal}");
            labels.Add(key - 1);
        }
        if (labels.Count == 0) throw new InvalidOperationException($"{what} has no rows");
        var images = new T[(long)labels.Count * size];
        for (int c = 0; c < chunks.Count; c++)
        {
            long offset = (long)c * chunkImages * size;
            chunks[c].AsSpan(0, (int)Math.Min(chunks[c].Length, images.LongLength - offset)).CopyTo(images.AsSpan().Slice((int)offset));
        }
        return create(images, labels.ToArray());
    }

    private static bool ToFloats(ReadOnlySpan<float> values, Span<float> features)
    {
        values.CopyTo(features);
        foreach (var value in values) if (!float.IsFinite(value)) return false;
        return true;
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
