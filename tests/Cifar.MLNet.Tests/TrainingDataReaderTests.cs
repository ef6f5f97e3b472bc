using Cifar.MLNet.Data;
using Cifar.Tests;
using Cifar.Trainer.Augmentation;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Cifar.MLNet.Tests;

public class TrainingDataReaderTests
{
    private readonly MLContext _ml = new(seed: 1);

    [Fact]
    public void Stage_output_is_kept_as_bytes_and_gives_back_the_stages_features_exactly()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.Path, recordsPerBatch: 20);
        var normalization = new PixelNormalization(new[] { 0.4914f, 0.4822f, 0.4465f }, new[] { 0.247f, 0.243f, 0.261f });
        var featurized = _ml.Transforms.LoadCifarImages().Append(_ml.Transforms.NormalizeCifarPixels(normalization))
            .Fit(CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Test, 0)).Transform(CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Test, 0));
        var expected = featurized.GetColumn<float[]>(CifarColumns.Features).SelectMany(f => f).ToArray();

        using var data = TrainingDataReader.Read(featurized, CifarColumns.Features, CifarColumns.Label, "test data", normalization);
        Assert.Equal(ScalarType.Byte, data.Images.dtype);
        using var all = data.Normalized(0, data.Count);
        Assert.Equal(expected, all.data<float>().ToArray());
    }

    [Fact]
    public void Features_that_are_not_normalized_bytes_are_kept_as_floats_even_after_byte_rows()
    {
        // Rows 0–2 are normalized bytes (the stage's arithmetic); row 3 is not: the reader switches to
        // floats and keeps every value.
        var (scale, offset) = PixelNormalization.Tutorial.ScaleAndOffset();
        var rows = Enumerable.Range(0, 5).Select(i => new Row
        {
            Features = Enumerable.Range(0, CifarImage.Size).Select(k => i == 3 ? 0.123f : (k % 256) * scale[0] + offset[0]).ToArray(),
            Label = i % 2 == 0 ? "a" : "b",
        }).ToArray();
        var view = _ml.Transforms.Conversion.MapValueToKey(CifarColumns.Label).Fit(_ml.Data.LoadFromEnumerable(rows))
            .Transform(_ml.Data.LoadFromEnumerable(rows));

        using var data = TrainingDataReader.Read(view, CifarColumns.Features, CifarColumns.Label, "test data", PixelNormalization.Tutorial);
        Assert.Equal(ScalarType.Float32, data.Images.dtype);
        using var all = data.Normalized(0, data.Count);
        Assert.Equal(rows.SelectMany(r => r.Features), all.data<float>().ToArray());
        Assert.Equal(new long[] { 0, 1, 0, 1, 0 }, data.Labels.data<long>().ToArray());
    }

    private sealed class Row
    {
        [VectorType(CifarImage.Size)]
        public float[] Features { get; set; } = [];

        public string Label { get; set; } = "";
    }
}
