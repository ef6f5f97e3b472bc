using System.Text.Json;
using Cifar.MLNet.Export;
using Cifar.MLNet.Prediction;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Transforms.Image;

namespace Cifar.MLNet.Tests;

/// <summary>
/// Tiny models of other image formats, trained (2 epochs, CPU) on generated two-class images and exported: a grey
/// 28×28 model of our stages, an RGB 24 wide × 16 high one of our stages, and one of a plain ML.NET featurization
/// (ExtractPixels with offsetImage 128 and scaleImage 1/128, no normalization stage). Shared by
/// <see cref="OnnxExportFormatsTests"/>: training is the slow part.
/// </summary>
public sealed class FormatModels : IDisposable
{
    public sealed record Exported(string Zip, string Onnx, string[] Images, OnnxExportSummary Summary);

    private static readonly CifarCnnOptions Quick = new() { Training = new() { Epochs = 2, BatchSize = 8, Device = ComputeDevice.Cpu } };

    private readonly TestData.TempFolder _folder = new();
    private readonly Dictionary<string, Lazy<Exported>> _models;

    public FormatModels()
    {
        _models = new()
        {
            ["grey"] = new(() => TrainAndExport("grey", 28, 28, ml => ml.Transforms.LoadCifarImages(format: new(28, 28, ColorMode.Grayscale))
                .Append(ml.Transforms.NormalizeCifarPixels()).AppendCifarCnn(Quick))),
            ["wide"] = new(() => TrainAndExport("wide", 24, 16, ml => ml.Transforms.LoadCifarImages(format: new(24, 16))
                .Append(ml.Transforms.NormalizeCifarPixels(new PixelNormalization([0.4f, 0.5f, 0.6f], [0.2f, 0.25f, 0.3f]))).AppendCifarCnn(Quick))),
            ["plain"] = new(() => TrainAndExport("plain", 16, 16, ml => PlainFeaturization(ml, 16, 16)
                .Append(new CifarCnnEstimator(Quick, ml)))),
        };
    }

    public Exported Get(string kind) => _models[kind].Value;

    /// <summary>LoadImages → ResizeImages → ExtractPixels straight into the estimator, values (byte − 128) / 128.</summary>
    public static IEstimator<ITransformer> PlainFeaturization(MLContext ml, int width, int height,
        ImagePixelExtractingEstimator.ColorsOrder order = ImagePixelExtractingEstimator.ColorsOrder.ARGB) =>
        ml.Transforms.LoadImages("Image", imageFolder: null, CifarColumns.ImagePath)
            .Append(ml.Transforms.ResizeImages("Image", width, height))
            .Append(ml.Transforms.ExtractPixels(CifarColumns.Features, "Image", orderOfExtraction: order, interleavePixelColors: false,
                offsetImage: 128, scaleImage: 1f / 128));

    /// <summary>
    /// Colour images of two classes told apart by where the bright half is ("left", "right"); each pixel of a colour of
    /// its own, none whose grey 0.3 R + 0.59 G + 0.11 B is a tie (x.5), so that rounding it has one answer.
    /// </summary>
    public static IDataView Images(MLContext ml, string folder, int width, int height, int perClass, out string[] files)
    {
        var rows = new List<(string ImagePath, string Label)>();
        foreach (var label in new[] { "left", "right" })
            for (int i = 0; i < perClass; i++)
            {
                var path = Path.Combine(folder, $"{label}{i}.bmp");
                TestImages.WriteBmp(path, width, height, (x, y) =>
                {
                    byte v = (byte)((x < width / 2) == (label == "left") ? 200 + i : 30 + y);
                    var (r, g, b) = (v, (byte)((v / 2 + 7 * x + 3 * y) % 256), (byte)(255 - v + i));
                    return (30 * r + 59 * g + 11 * b) % 100 == 50 ? (r, g, (byte)(b ^ 1)) : (r, g, b);
                });
                rows.Add((path, label));
            }
        files = rows.Select(r => r.ImagePath).ToArray();
        var view = ml.Data.LoadFromEnumerable(rows.Select(r => new PathRow { ImagePath = r.ImagePath, Label = r.Label }));
        return ml.Transforms.Conversion.MapValueToKey(CifarColumns.Label).Fit(view).Transform(view);
    }

    private Exported TrainAndExport(string name, int width, int height, Func<MLContext, IEstimator<ITransformer>> pipeline)
    {
        var ml = new MLContext(seed: 1).KeepOnnxSessionOptionsAlive();
        var folder = Directory.CreateDirectory(_folder.File(name)).FullName;
        var data = Images(ml, folder, width, height, perClass: 8, out var files);
        var fitted = pipeline(ml).Fit(data);
        var zip = _folder.File(name + ".zip");
        ml.Model.Save(fitted, data.Schema, zip);
        (fitted as IDisposable)?.Dispose(); // the saved zip is what the tests read; this frees the network and graph files
        var onnx = _folder.File(name + ".onnx");
        return new Exported(zip, onnx, files, CifarOnnxExport.Write(zip, onnx));
    }

    public sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    public void Dispose() => _folder.Dispose();
}

public class OnnxExportFormatsTests(FormatModels models) : IClassFixture<FormatModels>
{
    /// <summary>The largest difference allowed between the zip's probabilities and the exported model's (float32 arithmetic in another order).</summary>
    private const double Tolerance = 1e-5;

    /// <summary>
    /// Pixels as the metadata says to feed them: [N, C, H, W], 0–255, the images being of the model's size already; for a
    /// grey model the grey computed from R, G and B with the metadata's weights, rounded, as a caller elsewhere would.
    /// </summary>
    private static DenseTensor<float> Pixels(IReadOnlyList<string> files, IReadOnlyDictionary<string, string> metadata)
    {
        var dims = JsonDims(metadata["input"]);
        var weights = JsonSerializer.Deserialize<double[]?>(metadata["grey_weights"]);
        var tensor = new DenseTensor<float>([files.Count, .. dims]);
        for (int n = 0; n < files.Count; n++)
        {
            using var image = MLImage.CreateFromFile(files[n]);
            Assert.Equal((dims[2], dims[1]), (image.Width, image.Height));
            var bytes = image.Pixels;
            var (r, g, b) = image.PixelFormat == MLPixelFormat.Bgra32 ? (2, 1, 0) : (0, 1, 2);
            for (int y = 0; y < dims[1]; y++)
                for (int x = 0; x < dims[2]; x++)
                {
                    int i = (y * dims[2] + x) * 4;
                    if (weights is [var wr, var wg, var wb])
                        tensor[n, 0, y, x] = (float)Math.Round(wr * bytes[i + r] + wg * bytes[i + g] + wb * bytes[i + b]);
                    else
                        (tensor[n, 0, y, x], tensor[n, 1, y, x], tensor[n, 2, y, x]) = (bytes[i + r], bytes[i + g], bytes[i + b]);
                }
        }
        return tensor;
    }

    /// <summary>[C, H, W] from the metadata's "pixels: float32 [N,C,H,W], N images".</summary>
    private static int[] JsonDims(string input)
    {
        var inside = input[(input.IndexOf('[') + 1)..input.IndexOf(']')].Split(',');
        Assert.Equal("N", inside[0]);
        return inside[1..].Select(int.Parse).ToArray();
    }

    private static ImagePrediction[] ZipPredictions(string zip, IEnumerable<string> files)
    {
        using var model = CifarModel.Load(zip);
        return files.Select(model.Predict).ToArray();
    }

    private static double LargestDifference(float[][] expected, float[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            for (int c = 0; c < expected[i].Length; c++) worst = Math.Max(worst, Math.Abs(expected[i][c] - actual[i][c]));
        }
        return worst;
    }

    [Theory]
    [InlineData("grey")]
    [InlineData("wide")]
    [InlineData("plain")]
    public void ONNX_Runtime_scores_the_0_255_pixels_the_metadata_describes_as_the_zip_does(string kind)
    {
        var m = models.Get(kind);
        var pixels = Pixels(m.Images, m.Summary.Metadata);
        using var session = new InferenceSession(m.Onnx);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(CifarOnnxExport.InputName, pixels)]);
        var probabilities = results.Single(r => r.Name == CifarOnnxExport.ProbabilitiesName).AsTensor<float>();
        var labels = results.Single(r => r.Name == CifarOnnxExport.LabelName).AsTensor<string>().ToArray();
        var scored = Enumerable.Range(0, m.Images.Length).Select(i => new[] { probabilities[i, 0], probabilities[i, 1] }).ToArray();

        var expected = ZipPredictions(m.Zip, m.Images);
        double worst = LargestDifference(expected.Select(e => e.Score).ToArray(), scored);
        Assert.True(worst <= Tolerance, $"largest probability difference {worst}");
        Assert.Equal(expected.Select(e => e.PredictedLabel), labels);
        // Not a constant: the model tells the images apart, so agreeing means something.
        Assert.True(scored.Select(p => p[0]).Distinct().Count() > 4);
    }

    [Fact]
    public void ONNX_Runtime_for_Node_js_scores_the_grey_model_as_the_zip_does()
    {
        var m = models.Get("grey");
        var script = OnnxRuntimeNode.RequireScript();
        using var dir = new TestData.TempFolder();
        var pixels = Pixels(m.Images, m.Summary.Metadata);
        File.WriteAllBytes(dir.File("pixels.f32"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(pixels.Buffer.Span).ToArray());
        var scored = OnnxRuntimeNode.Run(script, m.Onnx, dir.File("pixels.f32"), $"{m.Images.Length},1,28,28");
        Assert.Equal([m.Images.Length, 2], scored.ProbabilityDims);
        double worst = LargestDifference(ZipPredictions(m.Zip, m.Images).Select(e => e.Score).ToArray(), scored.Probabilities);
        Assert.True(worst <= Tolerance, $"largest probability difference {worst}");
    }

    [Fact]
    public void The_grey_the_metadata_describes_is_the_grey_the_zips_own_steps_give()
    {
        var m = models.Get("grey");
        using var zip = CifarModel.Load(m.Zip);
        var ml = new MLContext();
        var steps = zip.Transformer.Transform(ml.Data.LoadFromEnumerable(m.Images.Select(f => new ImageInput { ImagePath = f })));
        var expected = steps.GetColumn<float[]>(CifarColumns.Pixels).ToArray();
        var pixels = Pixels(m.Images, m.Summary.Metadata);
        const int size = 28 * 28;
        for (int n = 0; n < m.Images.Length; n++) Assert.Equal(expected[n], pixels.Buffer.Slice(n * size, size).ToArray());
    }

    private static Dictionary<string, string> Metadata(string input, string channels, string resize, string normalization, string mean, string std)
    {
        bool grey = channels == "grey";
        return new()
        {
            ["classes"] = """["left","right"]""",
            ["input"] = input,
            ["layout"] = "NCHW",
            ["channel_order"] = channels,
            ["grey"] = grey
                ? "round(0.3*R + 0.59*G + 0.11*B) per pixel of the resized image, as ML.NET ConvertToGrayscale computes it (weights measured, also in grey_weights); an image already grey (R = G = B) is its own grey"
                : "none: the model reads the R, G and B planes",
            ["grey_weights"] = grey ? "[0.3,0.59,0.11]" : "null",
            ["pixel_range"] = "0-255",
            ["resize"] = resize,
            ["normalization"] = normalization,
            ["mean"] = mean,
            ["std"] = std,
            ["test_time_views"] = "1",
        };
    }

    private const string PerChannel = "(pixel / 255 - mean[c]) / std[c] per channel c, inside the graph: feed the pixels as they are";

    private static string Stretched(int width, int height) =>
        $"stretched to {width}x{height} (width x height), aspect ratio ignored, as ML.NET ResizeImages (Fill) does; an image of that size is used as it is";

    public static TheoryData<string, Dictionary<string, string>, long[]> ExpectedMetadata => new()
    {
        { "grey", Metadata("pixels: float32 [N,1,28,28], N images", "grey", Stretched(28, 28), PerChannel, "[0.5]", "[0.5]"), [-1, 1, 28, 28] },
        { "wide", Metadata("pixels: float32 [N,3,16,24], N images", "RGB", Stretched(24, 16), PerChannel, "[0.4,0.5,0.6]", "[0.2,0.25,0.3]"), [-1, 3, 16, 24] },
        // ExtractPixels' (byte - 128) / 128 as (byte / 255 - mean) / std: mean = std = 128 / 255.
        { "plain", Metadata("pixels: float32 [N,3,16,16], N images", "RGB",
            "cropped around the centre to the aspect ratio of 16x16 (width x height), then resized to it, as ML.NET ResizeImages (IsoCrop, the default) does; an image of that size is used as it is",
            PerChannel,
            "[0.501961,0.501961,0.501961]", "[0.501961,0.501961,0.501961]"), [-1, 3, 16, 16] },
    };

    [Theory]
    [MemberData(nameof(ExpectedMetadata))]
    public void The_metadata_read_back_says_the_shape_the_colours_and_the_normalization(string kind, Dictionary<string, string> expected, long[] shape)
    {
        var m = models.Get(kind);
        using var session = new InferenceSession(m.Onnx);
        Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), session.ModelMetadata.CustomMetadataMap.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(CifarOnnxExport.MetadataKeys.Order(StringComparer.Ordinal), expected.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(shape.Select(d => (int)d), session.InputMetadata[CifarOnnxExport.InputName].Dimensions);
        Assert.Equal(shape, m.Summary.InputShape);
        Assert.Equal([-1, 2], session.OutputMetadata[CifarOnnxExport.ProbabilitiesName].Dimensions);
    }

    [Fact]
    public void A_featurization_whose_planes_are_not_R_G_B_is_refused_in_one_line_writing_nothing()
    {
        using var dir = new TestData.TempFolder();
        var ml = new MLContext(seed: 1).KeepOnnxSessionOptionsAlive();
        var data = FormatModels.Images(ml, dir.Path, 16, 16, perClass: 2, out _);
        var options = new CifarCnnOptions { Training = new() { Epochs = 1, BatchSize = 4, Device = ComputeDevice.Cpu } };
        var fitted = FormatModels.PlainFeaturization(ml, 16, 16, ImagePixelExtractingEstimator.ColorsOrder.ABGR).Append(new CifarCnnEstimator(options, ml)).Fit(data);
        ml.Model.Save(fitted, data.Schema, dir.File("bgr.zip"));
        fitted.LastTransformer.Dispose();

        var error = Assert.Throws<InvalidDataException>(() => CifarOnnxExport.Write(dir.File("bgr.zip"), dir.File("bgr.onnx")));
        Assert.Equal($"{dir.File("bgr.zip")}: its image steps give [3,16,16] values that the ONNX export cannot describe: "
                     + "the 3 planes are not R, G and B in that order (they weigh R, G, B as [[0,0,1],[0,1,0],[1,0,0]])", error.Message);
        Assert.False(File.Exists(dir.File("bgr.onnx")));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }
}
