using Cifar.MLNet.Data;
using Cifar.Trainer.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet;

/// <summary>Reads a featurized data view into tensors, once.</summary>
internal static class TrainingDataReader
{
    /// <summary>
    /// Reads every row. An image file that cannot be decoded stops the read with an error naming it
    /// (drop such files before the loading stage with <see cref="CifarDataLoader.WithoutUndecodableImages"/>).
    /// </summary>
    public static TensorDataset Read(IDataView data, string featureColumnName, string labelColumnName, string what)
    {
        try
        {
            return ReadAll(data, featureColumnName, labelColumnName, what);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or FormatException
                                  && CifarDataLoader.FirstUndecodableImage(data) is { } bad)
        {
            // ML.NET decodes ahead on worker threads, so the failing row is found again by its path.
            throw new CifarDataException($"{bad}: cannot be decoded as an image ({e.GetBaseException().Message.Split('\n')[0]})");
        }
    }

    private static TensorDataset ReadAll(IDataView data, string featureColumnName, string labelColumnName, string what)
    {
        var featureColumn = data.Schema[featureColumnName];
        var labelColumn = data.Schema[labelColumnName];
        // Rows land in fixed-size chunks, copied once into one array at the end (no List doubling).
        const int chunkImages = 1024;
        var chunks = new List<float[]>();
        var labels = new List<long>();
        using var cursor = data.GetRowCursor(new[] { featureColumn, labelColumn });
        var getFeatures = cursor.GetGetter<VBuffer<float>>(featureColumn);
        var getLabel = cursor.GetGetter<uint>(labelColumn);
        VBuffer<float> row = default;
        uint key = 0;
        while (cursor.MoveNext())
        {
            getLabel(ref key);
            if (key == 0)
                throw new InvalidOperationException($"{what} row {cursor.Position} has no label (a value outside the label's key set)");
            getFeatures(ref row);
            if (row.Length != CifarImage.Size)
                throw new InvalidOperationException($"{what} row {cursor.Position} has {row.Length} features, expected {CifarImage.Size}");
            int slot = labels.Count % chunkImages;
            if (slot == 0) chunks.Add(new float[chunkImages * CifarImage.Size]);
            row.CopyTo(chunks[^1].AsSpan(slot * CifarImage.Size, CifarImage.Size));
            labels.Add(key - 1);
        }
        if (labels.Count == 0) throw new InvalidOperationException($"{what} has no rows");
        var features = new float[labels.Count * CifarImage.Size];
        for (int c = 0; c < chunks.Count; c++)
        {
            int offset = c * chunkImages * CifarImage.Size;
            int length = Math.Min(chunks[c].Length, features.Length - offset);
            chunks[c].AsSpan(0, length).CopyTo(features.AsSpan(offset));
        }
        return TensorDataset.FromArrays(features, labels.ToArray(), CifarImage.Channels, CifarImage.Height, CifarImage.Width);
    }
}
