using Cifar.MLNet.Stages;
using Cifar.MLNet.Prediction;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Cifar.MLNet.Tests;

/// <summary>
/// Images of any size and 1 or 3 channels, featurized by our stages or the plain ML.NET way, train the estimator; the
/// saved zip scores as the trained model does and says which images it reads.
/// </summary>
public class OwnImagesTests
{
    private readonly MLContext _ml = new MLContext(seed: 1).KeepOnnxSessionOptionsAlive();

    private static readonly CifarCnnOptions Quick = new()
    {
        Training = new() { Epochs = 2, BatchSize = 8, Device = ComputeDevice.Cpu },
    };

    /// <summary>
    /// Rows of image files of two classes told apart by where the bright half is: "left" or "right" (width × height,
    /// grey when <paramref name="grey"/>), with a key label.
    /// </summary>
    private IDataView Images(string folder, int width, int height, int perClass, bool grey = false)
    {
        var rows = new List<PathRow>();
        foreach (var label in new[] { "left", "right" })
            for (int i = 0; i < perClass; i++)
            {
                var path = Path.Combine(folder, $"{label}{i}.bmp");
                TestImages.WriteBmp(path, width, height, (x, y) =>
                {
                    bool bright = (x < width / 2) == (label == "left");
                    byte v = (byte)(bright ? 200 + i : 30 + y);
                    return grey ? (v, v, v) : (v, (byte)(v / 2), (byte)(255 - v));
                });
                rows.Add(new PathRow { ImagePath = path, Label = label });
            }
        var view = _ml.Data.LoadFromEnumerable(rows);
        return _ml.Transforms.Conversion.MapValueToKey(CifarColumns.Label).Fit(view).Transform(view);
    }

    private sealed class FlatRow
    {
        public float[] Flat { get; set; } = [];
        public string Label { get; set; } = "";
    }

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    private IEstimator<ITransformer> PlainFeaturization(int width, int height) =>
        _ml.Transforms.LoadImages("Image", imageFolder: null, CifarColumns.ImagePath)
            .Append(_ml.Transforms.ResizeImages("Image", width, height))
            .Append(_ml.Transforms.ExtractPixels(CifarColumns.Features, "Image", interleavePixelColors: false, scaleImage: 1f / 255));

    private (float[][] InMemory, float[][] Reloaded) ScoresBeforeAndAfterSaving(ITransformer model, IDataView data, string folder)
    {
        var path = Path.Combine(folder, "model.zip");
        _ml.Model.Save(model, data.Schema, path);
        var inMemory = model.Transform(data).GetColumn<float[]>(CifarColumns.Score).ToArray();
        var reloaded = _ml.Model.Load(path, out _);
        try
        {
            return (inMemory, reloaded.Transform(data).GetColumn<float[]>(CifarColumns.Score).ToArray());
        }
        finally
        {
            (reloaded as IDisposable)?.Dispose();
        }
    }

    private static void AssertClose(float[][] expected, float[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            for (int k = 0; k < expected[i].Length; k++)
                Assert.True(Math.Abs(expected[i][k] - actual[i][k]) < 1e-5, $"row {i} class {k}: {expected[i][k]} vs {actual[i][k]}");
    }

    [Fact]
    public void A_plain_MLNet_featurization_of_non_square_images_trains_on_the_values_it_is_given_and_the_zip_agrees()
    {
        using var dir = new TestData.TempFolder();
        var data = Images(dir.Path, width: 24, height: 16, perClass: 12);
        var fitted = PlainFeaturization(24, 16).Append(new CifarCnnEstimator(Quick with { Training = Quick.Training with { Epochs = 4 } }, _ml)).Fit(data);
        var cnn = fitted.LastTransformer;
        try
        {
            Assert.Equal(new ImageFormat(24, 16, ColorMode.Rgb), cnn.ImageFormat);
            Assert.Null(cnn.Normalization); // the features' own scaling (0–1 here) is the model's
            Assert.True(cnn.History[^1].TrainAccuracy > 0.9, $"train accuracy {cnn.History[^1].TrainAccuracy}");
            var (inMemory, reloaded) = ScoresBeforeAndAfterSaving(fitted, data, dir.Path);
            AssertClose(inMemory, reloaded);
        }
        finally
        {
            cnn.Dispose();
        }
    }

    [Fact]
    public void Grey_images_load_as_one_channel_normalize_with_one_value_and_the_saved_model_reads_them_grey()
    {
        using var dir = new TestData.TempFolder();
        var data = Images(dir.Path, width: 28, height: 28, perClass: 8, grey: true);
        var format = new ImageFormat(28, 28, ColorMode.Grayscale);
        var stages = _ml.Transforms.LoadCifarImages(format: format).Append(_ml.Transforms.NormalizeCifarPixels());

        var featurized = stages.Fit(data).Transform(data);
        var pixels = featurized.Schema[CifarColumns.Pixels].Type as VectorDataViewType;
        Assert.Equal(new[] { 1, 28, 28 }, pixels!.Dimensions.ToArray());
        // left0.bmp: x < 14 bright (200), else 30 + y; normalized (v / 255 − 0.5) / 0.5.
        var first = featurized.GetColumn<float[]>(CifarColumns.Pixels).First();
        Assert.Equal(200f, first[0]);
        Assert.Equal(30f + 5, first[5 * 28 + 20]);
        Assert.Equal((200f / 255 - 0.5f) / 0.5f, featurized.GetColumn<float[]>(CifarColumns.Features).First()[0], 5);

        var fitted = stages.AppendCifarCnn(Quick).Fit(data);
        try
        {
            Assert.Equal(format, fitted.LastTransformer.ImageFormat);
            Assert.Equal(new PixelNormalization(new[] { 0.5f }, new[] { 0.5f }), fitted.LastTransformer.Normalization);
            var path = Path.Combine(dir.Path, "model.zip");
            _ml.Model.Save(fitted, data.Schema, path);
            using var model = CifarModel.Load(path);
            Assert.Equal(format, model.ImageFormat);
            var inMemory = fitted.Transform(data).GetColumn<float[]>(CifarColumns.Score).First();
            var predicted = model.Predict(Path.Combine(dir.Path, "left0.bmp"));
            AssertClose(new[] { inMemory }, new[] { predicted.Score });
        }
        finally
        {
            fitted.LastTransformer.Dispose();
        }
    }

    [Fact]
    public void A_flat_feature_column_takes_its_shape_from_the_options_and_without_one_is_refused_saying_how()
    {
        using var dir = new TestData.TempFolder();
        var data = Images(dir.Path, width: 16, height: 16, perClass: 4);
        // The same values in a column that declares only its length, as a text loader or LoadFromEnumerable gives.
        var plain = PlainFeaturization(16, 16).Fit(data).Transform(data);
        var rows = plain.GetColumn<float[]>(CifarColumns.Features)
            .Zip(data.GetColumn<string>(CifarColumns.ImagePath), (f, p) => new FlatRow { Flat = f, Label = Path.GetFileName(p)[..4] }).ToArray();
        var schema = SchemaDefinition.Create(typeof(FlatRow));
        schema["Flat"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 768);
        var flatView = _ml.Data.LoadFromEnumerable(rows, schema);
        var flat = _ml.Transforms.Conversion.MapValueToKey(CifarColumns.Label).Fit(flatView).Transform(flatView);
        var options = Quick with { FeatureColumnName = "Flat", Training = Quick.Training with { Epochs = 1 } };

        var error = Assert.Throws<ArgumentException>(() => new CifarCnnEstimator(options, _ml).Fit(flat));
        Assert.Equal("training data: column 'Flat' is Vector<Single, 768>, which declares no image shape [channels, height, width]: "
                     + "set CifarCnnOptions.ImageFormat (or extract the pixels with planar order, which declares it)", error.Message);
        var wrong = Assert.Throws<ArgumentException>(() => new CifarCnnEstimator(options with { ImageFormat = new(16, 16, ColorMode.Grayscale) }, _ml).Fit(flat));
        Assert.Equal("training data: column 'Flat' holds 768 floats per row, but 16x16 grey images have 256", wrong.Message);

        using var cnn = new CifarCnnEstimator(options with { ImageFormat = new(16, 16) }, _ml).Fit(flat);
        Assert.Equal(new ImageFormat(16, 16), cnn.ImageFormat);
        Assert.Single(cnn.History);
    }

    [Fact]
    public void Plain_features_are_augmented_by_the_options_but_colour_jitter_needs_pixels_and_augmentation_is_given_once()
    {
        using var dir = new TestData.TempFolder();
        var data = Images(dir.Path, width: 16, height: 16, perClass: 4);
        var plain = PlainFeaturization(16, 16).Fit(data).Transform(data);
        var jitter = new AugmentationOptions { ColorJitter = new() { Brightness = 0.2 } };
        var error = Assert.Throws<OptionsException>(() => new CifarCnnEstimator(Quick with { Augmentation = jitter }, _ml).Fit(plain));
        Assert.StartsWith("Augmentation:ColorJitter needs 0-255 pixels", error.Message);

        var flip = new AugmentationOptions { HorizontalFlip = true, Translate = 2 };
        using var flipped = new CifarCnnEstimator(Quick with { Augmentation = flip }, _ml).Fit(plain);
        Assert.Equal(flip, flipped.Augmentation);

        var staged = _ml.Transforms.LoadCifarImages(format: new(16, 16)).Append(_ml.Transforms.NormalizeCifarPixels())
            .Append(_ml.Transforms.AugmentCifarImages()).Fit(data).Transform(data);
        var twice = Assert.Throws<ArgumentException>(() => new CifarCnnEstimator(Quick with { Augmentation = flip }, _ml).Fit(staged));
        Assert.Equal("augmentation is given twice, by the augmentation stage and by CifarCnnOptions.Augmentation: keep one", twice.Message);
    }

    [Fact]
    public void Interleaved_pixels_and_a_translation_as_wide_as_the_image_are_refused_naming_why()
    {
        using var dir = new TestData.TempFolder();
        var data = Images(dir.Path, width: 16, height: 8, perClass: 2);
        var interleaved = _ml.Transforms.LoadImages("Image", imageFolder: null, CifarColumns.ImagePath)
            .Append(_ml.Transforms.ResizeImages("Image", 16, 8))
            .Append(_ml.Transforms.ExtractPixels(CifarColumns.Features, "Image", interleavePixelColors: true)).Fit(data).Transform(data);
        var error = Assert.Throws<ArgumentException>(() => new CifarCnnEstimator(Quick with { ImageFormat = new(16, 8) }, _ml).Fit(interleaved));
        Assert.Equal("training data: column 'Features' is Vector<Single, 8, 16, 3>: its dimensions are not [channels, height, width] with 1 or 3 channels "
                     + "(interleaved pixels? extract them with interleavePixelColors: false)", error.Message);

        var plain = PlainFeaturization(16, 8).Fit(data).Transform(data);
        var wide = Assert.Throws<OptionsException>(() => new CifarCnnEstimator(Quick with { Augmentation = new() { Translate = 8 } }, _ml).Fit(plain));
        Assert.Equal("Augmentation:Translate must be less than the images' shorter side (8 pixels of 16x8 RGB): reflect padding needs it (got 8)", wide.Message);
    }

    [Fact]
    public void A_resume_on_features_made_another_way_is_refused_naming_them_and_the_same_features_resume()
    {
        using var dir = new TestData.TempFolder();
        var data = Images(dir.Path, width: 16, height: 16, perClass: 4);
        IDataView Featurized(float scale) => _ml.Transforms.LoadImages("Image", imageFolder: null, CifarColumns.ImagePath)
            .Append(_ml.Transforms.ResizeImages("Image", 16, 16))
            .Append(_ml.Transforms.ExtractPixels(CifarColumns.Features, "Image", interleavePixelColors: false, scaleImage: scale)).Fit(data).Transform(data);
        var checkpoint = Path.Combine(dir.Path, "checkpoint.bin");
        var options = Quick with { CheckpointPath = checkpoint, Training = Quick.Training with { Epochs = 1 } };
        using (new CifarCnnEstimator(options, _ml).Fit(Featurized(1f / 255))) { }

        var resumed = options with { Resume = true, Training = Quick.Training with { Epochs = 2 } };
        var error = Assert.ThrowsAny<Exception>(() => new CifarCnnEstimator(resumed, _ml).Fit(Featurized(1f / 128)));
        Assert.True(error.Message.Contains("made with other settings: the features' [means, stds] per channel were [[0.468627,"), error.Message);
        using var same = new CifarCnnEstimator(resumed, _ml).Fit(Featurized(1f / 255));
        Assert.Equal(2, same.History.Count);
    }

    [Fact]
    public void Images_too_small_for_the_network_are_refused_before_training_naming_the_layer()
    {
        using var dir = new TestData.TempFolder();
        var data = Images(dir.Path, width: 6, height: 6, perClass: 2);
        var error = Assert.ThrowsAny<Exception>(() => PlainFeaturization(6, 6).Append(new CifarCnnEstimator(Quick, _ml)).Fit(data));
        Assert.Contains("layer 9 'pool3' (MaxPool2d): kernel 2×2 is larger than its input", error.Message);
    }

    [Theory]
    [InlineData(new[] { 0.5f, 0.5f, 0.5f }, 1, new[] { 0.5f })]
    [InlineData(new[] { 0.3f }, 3, new[] { 0.3f, 0.3f, 0.3f })]
    [InlineData(new[] { 0.1f, 0.2f, 0.3f }, 3, new[] { 0.1f, 0.2f, 0.3f })]
    public void A_normalization_fits_the_channel_count_with_one_value_or_equal_values(float[] mean, int channels, float[] expected)
    {
        var n = new PixelNormalization(mean, mean.Select(m => m + 0.1f).ToArray()).ForChannels(channels);
        Assert.Equal(expected, n.Mean);
        Assert.Equal(expected.Select(m => m + 0.1f), n.Std);
    }

    [Fact]
    public void Three_different_means_for_grey_images_are_refused_by_key()
    {
        var error = Assert.Throws<OptionsException>(() =>
            new PixelNormalization(new[] { 0.1f, 0.2f, 0.3f }, new[] { 0.2f, 0.2f, 0.2f }).ForChannels(1));
        Assert.Equal("Normalization:Mean must have one value per channel (and :Std as many): the images have 1 channel; give 1, or one for all (got [0.1, 0.2, 0.3])",
            error.Message);
    }
}
