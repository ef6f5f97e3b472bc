using Cifar.MLNet.Data;
using Cifar.MLNet.Stages;
using Cifar.Trainer.Augmentation;
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
    /// <param name="data">Rows with the feature vector and key label.</param>
    /// <param name="featureColumnName">The feature column (3×32×32 floats).</param>
    /// <param name="labelColumnName">The key label column.</param>
    /// <param name="what">How errors name the data ("training data").</param>
    /// <param name="normalization">
    /// The features' normalization when known: rows that are normalized bytes are then kept as bytes.
    /// </param>
    public static TensorDataset Read(IDataView data, string featureColumnName, string labelColumnName, string what,
        PixelNormalization? normalization)
    {
        try
        {
            return ReadAll(data, featureColumnName, labelColumnName, what, normalization);
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
            throw new CifarDataException($"{bad}: cannot be decoded as an image ({e.GetBaseException().Message.Split('\n')[0]})");
        }
    }

    private static TensorDataset ReadAll(IDataView data, string featureColumnName, string labelColumnName, string what,
        PixelNormalization? normalization)
    {
        var featureColumn = data.Schema[featureColumnName];
        var labelColumn = data.Schema[labelColumnName];
        var store = new ImageStore(normalization);
        var labels = new List<long>();
        using var cursor = data.GetRowCursor(new[] { featureColumn, labelColumn });
        var getFeatures = cursor.GetGetter<VBuffer<float>>(featureColumn);
        var getLabel = cursor.GetGetter<uint>(labelColumn);
        VBuffer<float> row = default;
        var dense = new float[CifarImage.Size];
        uint key = 0;
        while (cursor.MoveNext())
        {
            getLabel(ref key);
            if (key == 0)
                throw new InvalidOperationException($"{what} row {cursor.Position} has no label (a value outside the label's key set)");
            getFeatures(ref row);
            if (row.Length != CifarImage.Size)
                throw new InvalidOperationException($"{what} row {cursor.Position} has {row.Length} features, expected {CifarImage.Size}");
            store.Add(row.IsDense ? row.GetValues() : Densified(row, dense));
            labels.Add(key - 1);
        }
        if (labels.Count == 0) throw new InvalidOperationException($"{what} has no rows");
        return store.ToDataset(labels.ToArray());
    }

    private static float[] Densified(VBuffer<float> row, float[] dense)
    {
        row.CopyTo(dense);
        return dense;
    }

    /// <summary>
    /// Collects image rows in fixed-size chunks (no List doubling), as 0–255 bytes while every value
    /// is exactly a normalized byte (the Cifar stages' output: a quarter of the memory), else as floats;
    /// either way the trainer sees the very floats the pipeline produced.
    /// </summary>
    private sealed class ImageStore
    {
        private const int ChunkImages = 1024;
        private readonly PixelNormalization? _normalization;
        private readonly float[] _scale = [], _offset = [];
        private readonly List<byte[]> _byteChunks = new();
        private List<float[]>? _floatChunks;
        private int _count;

        public ImageStore(PixelNormalization? normalization)
        {
            _normalization = normalization;
            if (normalization is null)
            {
                _floatChunks = new List<float[]>();
                return;
            }
            // Per value, exactly as the normalization stage applies them.
            (_scale, _offset) = CifarNormalizationEstimator.Coefficients.Of(normalization);
        }

        public void Add(ReadOnlySpan<float> features)
        {
            int slot = _count % ChunkImages;
            _count++;
            if (_floatChunks is null)
            {
                if (slot == 0) _byteChunks.Add(new byte[ChunkImages * CifarImage.Size]);
                if (TryAsBytes(features, _byteChunks[^1].AsSpan(slot * CifarImage.Size, CifarImage.Size))) return;
                SwitchToFloats(); // this row's chunk included
            }
            else if (slot == 0)
            {
                _floatChunks.Add(new float[ChunkImages * CifarImage.Size]);
            }
            features.CopyTo(_floatChunks![^1].AsSpan(slot * CifarImage.Size, CifarImage.Size));
        }

        private bool TryAsBytes(ReadOnlySpan<float> features, Span<byte> pixels)
        {
            for (int i = 0; i < features.Length; i++)
            {
                float pixel = MathF.Round((features[i] - _offset[i]) / _scale[i]);
                // Lossless only: the byte must give back this very float, as the normalization stage computes it.
                if (!(pixel >= 0 && pixel <= 255) || pixel * _scale[i] + _offset[i] != features[i]) return false;
                pixels[i] = (byte)pixel;
            }
            return true;
        }

        /// <summary>A value that is not a normalized byte: the rows so far become floats again, exactly.</summary>
        private void SwitchToFloats()
        {
            _floatChunks = new List<float[]>();
            foreach (var bytes in _byteChunks)
            {
                var floats = new float[bytes.Length];
                for (int i = 0; i < bytes.Length; i++) floats[i] = bytes[i] * _scale[i % CifarImage.Size] + _offset[i % CifarImage.Size];
                _floatChunks.Add(floats);
            }
            _byteChunks.Clear();
        }

        public TensorDataset ToDataset(long[] labels)
        {
            int total = _count * CifarImage.Size;
            if (_floatChunks is null)
                return TensorDataset.FromPixelArrays(Concatenate(_byteChunks, total), labels,
                    CifarImage.Channels, CifarImage.Height, CifarImage.Width, _normalization!);
            return TensorDataset.FromArrays(Concatenate(_floatChunks, total), labels, CifarImage.Channels, CifarImage.Height, CifarImage.Width);
        }

        private static T[] Concatenate<T>(List<T[]> chunks, int total)
        {
            var all = new T[total];
            for (int c = 0; c < chunks.Count; c++)
            {
                int offset = c * ChunkImages * CifarImage.Size;
                chunks[c].AsSpan(0, Math.Min(chunks[c].Length, total - offset)).CopyTo(all.AsSpan(offset));
            }
            chunks.Clear();
            return all;
        }
    }
}
