using Cifar.MLNet.Data;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Cifar.MLNet.Tests;

public class TrainingDataReaderTests
{
    private readonly MLContext _ml = new(seed: 1);

    [Fact]
    public void The_loading_stages_pixels_are_kept_as_bytes_and_normalize_to_the_stages_features_exactly()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.Path, recordsPerBatch: 20);
        var normalization = new PixelNormalization(new[] { 0.4914f, 0.4822f, 0.4465f }, new[] { 0.247f, 0.243f, 0.261f });
        var featurized = _ml.Transforms.LoadCifarImages().Append(_ml.Transforms.NormalizeCifarPixels(normalization))
            .Fit(CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Test, 0)).Transform(CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Test, 0));
        var expected = featurized.GetColumn<float[]>(CifarColumns.Features).SelectMany(f => f).ToArray();

        using var data = TrainingDataReader.Read(featurized, CifarColumns.Pixels, CifarColumns.Label, "test data", ImageFormat.Cifar, normalization);
        Assert.Equal(ScalarType.Byte, data.Images.dtype);
        Assert.Equal(featurized.GetColumn<float[]>(CifarColumns.Pixels).SelectMany(p => p).Select(p => (byte)p), data.Images.data<byte>().ToArray());
        using var all = data.Normalized(0, data.Count);
        Assert.Equal(expected, all.data<float>().ToArray());
    }

    [Fact]
    public void A_pixel_value_that_is_not_a_whole_number_from_0_to_255_is_refused_naming_the_row_and_column()
    {
        // Rows 0–2 are pixels; row 3 holds 0.5: bytes would not give it back.
        var rows = Enumerable.Range(0, 5).Select(i => new Row
        {
            Pixels = Enumerable.Range(0, CifarImage.Size).Select(k => i == 3 && k == 7 ? 0.5f : k % 256).ToArray(),
            Label = i % 2 == 0 ? "a" : "b",
        }).ToArray();
        var view = _ml.Transforms.Conversion.MapValueToKey(CifarColumns.Label).Fit(_ml.Data.LoadFromEnumerable(rows))
            .Transform(_ml.Data.LoadFromEnumerable(rows));

        var error = Assert.Throws<InvalidOperationException>(() =>
            TrainingDataReader.Read(view, CifarColumns.Pixels, CifarColumns.Label, "test data", ImageFormat.Cifar, PixelNormalization.Tutorial));
        Assert.Equal("test data row 3: column 'Pixels' holds a value that is not a whole number 0–255; the trainer reads the loading stage's pixels", error.Message);
        using var firstThree = TrainingDataReader.Read(_ml.Data.TakeRows(view, 3), CifarColumns.Pixels, CifarColumns.Label, "test data", ImageFormat.Cifar, PixelNormalization.Tutorial);
        Assert.Equal(new long[] { 0, 1, 0 }, firstThree.Labels.data<long>().ToArray());
        Assert.Equal(rows.Take(3).SelectMany(r => r.Pixels).Select(p => (byte)p), firstThree.Images.data<byte>().ToArray());
    }

    private sealed class Row
    {
        [VectorType(CifarImage.Size)]
        public float[] Pixels { get; set; } = [];

        public string Label { get; set; } = "";
    }
}
