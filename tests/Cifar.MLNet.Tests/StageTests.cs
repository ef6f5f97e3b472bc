using Cifar.MLNet.Data;
using Cifar.MLNet.Stages;
using Cifar.Tests;
using Cifar.Trainer.Augmentation;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Tests;

public class StageTests
{
    private readonly MLContext _ml = new MLContext(seed: 1).KeepOnnxSessionOptionsAlive();

    private sealed class PixelRow
    {
        public float[] Pixels { get; set; } = [];
    }

    private IDataView PixelData(params float[][] images)
    {
        var schema = SchemaDefinition.Create(typeof(PixelRow));
        schema[0].ColumnType = CifarDataLoader.PixelsType;
        return _ml.Data.LoadFromEnumerable(images.Select(p => new PixelRow { Pixels = p }), schema);
    }

    private static float[] Planes(float r, float g, float b) =>
        Enumerable.Repeat(r, 1024).Concat(Enumerable.Repeat(g, 1024)).Concat(Enumerable.Repeat(b, 1024)).ToArray();

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    private IDataView Paths(params string[] paths) => _ml.Data.LoadFromEnumerable(paths.Select(p => new PathRow { ImagePath = p }));

    [Fact]
    public void Loading_decodes_a_32x32_image_to_planar_rgb_0_to_255()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBmp(dir.File("a.bmp"), 32, 32, TestImages.Pattern);
        var pixels = _ml.Transforms.LoadCifarImages().Fit(Paths(dir.File("a.bmp"))).Transform(Paths(dir.File("a.bmp")))
            .GetColumn<float[]>("Pixels").Single();
        Assert.Equal(3072, pixels.Length);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
            {
                var (r, g, b) = TestImages.Pattern(x, y);
                Assert.Equal(r, pixels[y * 32 + x]);
                Assert.Equal(g, pixels[1024 + y * 32 + x]);
                Assert.Equal(b, pixels[2048 + y * 32 + x]);
            }
    }

    [Fact]
    public void Loading_refuses_an_image_declaring_a_huge_canvas_before_decoding_it()
    {
        using var dir = new TestData.TempFolder();
        var huge = dir.File("huge.png");
        TestImages.WritePngDeclaring(huge, 100_000, 100_000);
        Assert.InRange(new FileInfo(huge).Length, 1, 1 << 20);
        var data = Paths(huge);
        var output = _ml.Transforms.LoadCifarImages().Fit(data).Transform(data);
        var error = Assert.ThrowsAny<Exception>(() => output.GetColumn<float[]>("Pixels").ToArray());
        // ML.NET reads on worker threads and rethrows what a getter threw inside an InvalidOperationException.
        var cause = error.GetBaseException();
        Assert.IsType<CifarDataException>(cause);
        Assert.Equal($"{huge}: declares a 100000×100000 image, 10,000,000,000 pixels; images of more than 16,777,216 pixels (4096×4096) are refused before decoding", cause.Message);
    }

    [Fact]
    public void Loading_resizes_any_size_to_32x32()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBmp(dir.File("big.bmp"), 64, 48, (_, _) => (200, 100, 50));
        var data = Paths(dir.File("big.bmp"));
        var output = _ml.Transforms.LoadCifarImages().Fit(data).Transform(data);
        Assert.Equal(3072, ((VectorDataViewType)output.Schema["Pixels"].Type).Size);
        var pixels = output.GetColumn<float[]>("Pixels").Single();
        Assert.Equal(Planes(200, 100, 50), pixels);
    }

    [Fact]
    public void Loading_passes_already_decoded_pixels_through()
    {
        var data = PixelData(Planes(1, 2, 3));
        var output = _ml.Transforms.LoadCifarImages().Fit(data).Transform(data);
        Assert.Equal(Planes(1, 2, 3), output.GetColumn<float[]>("Pixels").Single());
        var noInput = _ml.Data.LoadFromEnumerable(new[] { new { Other = 1f } });
        Assert.Contains("ImagePath", Assert.Throws<ArgumentException>(() => _ml.Transforms.LoadCifarImages().Fit(noInput)).Message);
    }

    [Fact]
    public void Normalization_maps_0_to_minus_1_and_255_to_1_with_the_tutorials_mean_and_std()
    {
        var data = PixelData(Planes(0, 255, 51));
        var features = _ml.Transforms.NormalizeCifarPixels().Fit(data).Transform(data).GetColumn<float[]>("Features").Single();
        // (51/255 − 0.5)/0.5 = −0.6
        Assert.All(features[..1024], v => Assert.Equal(-1f, v, 6));
        Assert.All(features[1024..2048], v => Assert.Equal(1f, v, 6));
        Assert.All(features[2048..], v => Assert.Equal(-0.6f, v, 6));
    }

    [Fact]
    public void A_stage_made_on_the_callers_catalog_runs_its_onnx_graph_where_the_callers_context_says()
    {
        // ML.NET's ONNX transforms take the GPU from their context: a context naming a GPU device that cannot run the
        // graph (the CPU build of ONNX Runtime has no CUDA provider; a CUDA build has no device 999) fails the fit. A
        // stage made in a context of its own would ignore the caller's choice and fit as the default context does.
        var data = PixelData(Planes(0, 255, 51));
        var noSuchGpu = new MLContext(seed: 1) { GpuDeviceId = 999, FallbackToCpu = false };
        var error = Assert.ThrowsAny<Exception>(() => noSuchGpu.Transforms.NormalizeCifarPixels().Fit(data));
        Assert.Contains(Causes(error), e => e is EntryPointNotFoundException || e.GetType().Name == "OnnxRuntimeException");
        using var stage = _ml.Transforms.NormalizeCifarPixels().Fit(data);
        Assert.Equal(-1f, stage.Transform(data).GetColumn<float[]>("Features").Single()[0], 6);
    }

    private static IEnumerable<Exception> Causes(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException) yield return x;
    }

    [Fact]
    public void Normalization_applies_each_channels_own_mean_and_std()
    {
        var imagenet = new PixelNormalization(new[] { 0.485f, 0.456f, 0.406f }, new[] { 0.229f, 0.224f, 0.225f });
        var data = PixelData(Planes(128, 128, 128));
        var transformer = _ml.Transforms.NormalizeCifarPixels(imagenet).Fit(data);
        var features = transformer.Transform(data).GetColumn<float[]>("Features").Single();
        double x = 128 / 255.0;
        Assert.Equal((x - 0.485) / 0.229, features[0], 5);
        Assert.Equal((x - 0.456) / 0.224, features[1500], 5);
        Assert.Equal((x - 0.406) / 0.225, features[3071], 5);
        var recorded = CifarAnnotations.ReadNormalization(transformer.GetOutputSchema(data.Schema)["Features"])!;
        Assert.Equal(imagenet.Mean, recorded.Mean);
        Assert.Equal(imagenet.Std, recorded.Std);
        Assert.Equal("Pixels", CifarAnnotations.ReadPixelsColumn(transformer.GetOutputSchema(data.Schema)["Features"]));
    }

    [Fact]
    public void Normalization_reloaded_from_a_zip_gives_the_same_features()
    {
        var normalization = new PixelNormalization(new[] { 0.4f, 0.5f, 0.6f }, new[] { 0.2f, 0.25f, 0.3f });
        var random = new Random(3);
        var data = PixelData(Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 3072).Select(_ => (float)random.Next(256)).ToArray()).ToArray());
        var transformer = _ml.Transforms.NormalizeCifarPixels(normalization).Fit(data);
        using var dir = new TestData.TempFolder();
        _ml.Model.Save(transformer, data.Schema, dir.File("n.zip"));
        var reloaded = new MLContext().KeepOnnxSessionOptionsAlive().Model.Load(dir.File("n.zip"), out _);
        var expected = transformer.Transform(data).GetColumn<float[]>("Features").ToArray();
        var actual = reloaded.Transform(data).GetColumn<float[]>("Features").ToArray();
        for (int i = 0; i < expected.Length; i++)
            for (int k = 0; k < 3072; k++) Assert.Equal(expected[i][k], actual[i][k], 5);
    }

    [Theory]
    [InlineData(new[] { 0.5f, 0.5f }, new[] { 0.5f, 0.5f, 0.5f }, "Normalization:Mean must be 3 finite numbers (R, G, B) or 1 (grey) (got [0.5, 0.5])")]
    [InlineData(new[] { 0.5f, 0.5f, 0.5f }, new[] { 0.5f, 0f, 0.5f }, "Normalization:Std must be 3 numbers greater than 0, one per mean (got [0.5, 0, 0.5])")]
    [InlineData(new[] { 0.5f, float.NaN, 0.5f }, new[] { 0.5f, 0.5f, 0.5f }, "Normalization:Mean must be 3 finite numbers (R, G, B) or 1 (grey) (got [0.5, NaN, 0.5])")]
    public void Bad_normalizations_are_refused_with_what_is_wrong(float[] mean, float[] std, string message)
    {
        var error = Assert.Throws<OptionsException>(() => _ml.Transforms.NormalizeCifarPixels(new PixelNormalization(mean, std)));
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Augmentation_stage_is_the_identity_outside_fitting_and_records_its_settings()
    {
        var data = PixelData(Planes(10, 20, 30), Planes(40, 50, 60));
        var normalized = _ml.Transforms.NormalizeCifarPixels().Fit(data).Transform(data);
        var settings = new AugmentationOptions { HorizontalFlip = true, HorizontalFlipProbability = 1, RotationDegrees = 30, ColorJitter = new() { Brightness = 0.5 } };
        var augmented = _ml.Transforms.AugmentCifarImages(settings).Fit(normalized).Transform(normalized);
        Assert.Equal(normalized.GetColumn<float[]>("Features"), augmented.GetColumn<float[]>("Features"));
        var column = augmented.Schema["Features"];
        Assert.Equal(settings, CifarAnnotations.ReadAugmentation(column));
        Assert.Equal(PixelNormalization.Tutorial.Mean, CifarAnnotations.ReadNormalization(column)!.Mean);
        Assert.Equal("Pixels", CifarAnnotations.ReadPixelsColumn(column));
    }

    [Fact]
    public void Augmentation_before_normalization_is_refused_with_the_fix()
    {
        var data = PixelData(Planes(10, 20, 30));
        var error = Assert.Throws<ArgumentException>(() => _ml.Transforms.AugmentCifarImages(columnName: "Pixels").Fit(data));
        Assert.Contains("after NormalizeCifarPixels", error.Message);
    }

    [Theory]
    [InlineData(1.5, 0, 0, "Augmentation:HorizontalFlipProbability")]
    [InlineData(0.5, 0.6, 0, "Augmentation:ColorJitter:Hue")]
    [InlineData(0.5, 0, 200, "Augmentation:RotationDegrees")]
    [InlineData(-0.1, 0, 0, "Augmentation:HorizontalFlipProbability")]
    public void Out_of_range_augmentation_is_refused_by_its_key(double flip, double hue, double degrees, string key)
    {
        var settings = new AugmentationOptions { HorizontalFlip = true, HorizontalFlipProbability = flip, ColorJitter = new() { Hue = hue }, RotationDegrees = degrees };
        Assert.Equal(key, Assert.Throws<OptionsException>(() => _ml.Transforms.AugmentCifarImages(settings)).Key);
    }
}
