using Cifar.MLNet.Data;
using Cifar.MLNet.Export;
using Cifar.MLNet.Prediction;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Cifar.MLNet.Tests;

/// <summary>
/// Two tiny models trained on real CIFAR-10 images (200 of them, one epoch on the CPU), saved as zips and exported
/// as ONNX: the tutorial's SeedCnn with the fast recipe's normalization, and the fast recipe's AirbenchNet with its
/// six test-time views. Shared by <see cref="OnnxExportTests"/>: training is the slow part.
/// </summary>
public sealed class ExportedModels : IDisposable
{
    public sealed record Exported(string Zip, string Onnx, OnnxExportSummary Summary, PixelNormalization Normalization);

    private readonly TestData.TempFolder _folder = new();
    private readonly Lazy<Exported> _plain, _withViews;

    public ExportedModels()
    {
        _plain = new(() => TrainAndExport("plain", new ModelOptions(), CifarRecipe.Fast.Normalization));
        _withViews = new(() => TrainAndExport("views",
            new ModelOptions { Architecture = "AirbenchNet", TestTimeAugmentation = TestTimeAugmentation.MirrorTranslate }, PixelNormalization.Tutorial));
    }

    public Exported Get(string kind)
    {
        TestData.RequireRoot();
        return kind == "plain" ? _plain.Value : _withViews.Value;
    }

    private Exported TrainAndExport(string name, ModelOptions model, PixelNormalization normalization)
    {
        var ml = new MLContext(seed: 1);
        var train = CifarDataLoader.Load(ml, TestData.RequireRoot(), CifarSplit.Train, 200);
        var fitted = ml.Transforms.LoadCifarImages()
            .Append(ml.Transforms.NormalizeCifarPixels(normalization))
            .AppendCifarCnn(new CifarCnnOptions { Model = model, Training = new() { Epochs = 1, BatchSize = 32, Device = ComputeDevice.Cpu } })
            .Fit(train);
        var zip = _folder.File(name + ".zip");
        ml.Model.Save(fitted, train.Schema, zip);
        fitted.LastTransformer.Dispose();
        var onnx = _folder.File(name + ".onnx");
        return new Exported(zip, onnx, CifarOnnxExport.Write(zip, onnx), normalization);
    }

    public void Dispose() => _folder.Dispose();
}

public class OnnxExportTests(ExportedModels models) : IClassFixture<ExportedModels>
{
    private static readonly string[] Classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>The first two test images of every class.</summary>
    private static string[] RealImages() =>
        Classes.SelectMany(c => Directory.GetFiles(Path.Combine(TestData.RequireRoot(), "test", c)).Order(StringComparer.Ordinal).Take(2)).ToArray();

    /// <summary>Pixels as the metadata says to feed them: [N, 3, H, W] RGB planes, 0–255; CIFAR images are 32×32 already.</summary>
    private static DenseTensor<float> Pixels(IReadOnlyList<string> files)
    {
        var tensor = new DenseTensor<float>([files.Count, 3, 32, 32]);
        for (int n = 0; n < files.Count; n++)
        {
            using var image = MLImage.CreateFromFile(files[n]);
            Assert.Equal((32, 32), (image.Width, image.Height));
            var bytes = image.Pixels;
            var (r, g, b) = image.PixelFormat == MLPixelFormat.Bgra32 ? (2, 1, 0) : (0, 1, 2);
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                {
                    int i = (y * 32 + x) * 4;
                    (tensor[n, 0, y, x], tensor[n, 1, y, x], tensor[n, 2, y, x]) = (bytes[i + r], bytes[i + g], bytes[i + b]);
                }
        }
        return tensor;
    }

    private static (float[][] Probabilities, string[] Labels) Score(string onnx, DenseTensor<float> pixels)
    {
        using var session = new InferenceSession(onnx);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(CifarOnnxExport.InputName, pixels)]);
        var probabilities = results.Single(r => r.Name == CifarOnnxExport.ProbabilitiesName).AsTensor<float>();
        var labels = results.Single(r => r.Name == CifarOnnxExport.LabelName).AsTensor<string>().ToArray();
        int n = pixels.Dimensions[0], k = probabilities.Dimensions[1];
        Assert.Equal([n, k], probabilities.Dimensions.ToArray());
        return (Enumerable.Range(0, n).Select(i => Enumerable.Range(0, k).Select(c => probabilities[i, c]).ToArray()).ToArray(), labels);
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("views")]
    public void ONNX_Runtime_alone_scores_a_batch_of_real_images_as_the_zip_does(string kind)
    {
        var m = models.Get(kind);
        var files = RealImages();
        var (probabilities, labels) = Score(m.Onnx, Pixels(files));
        using var zip = CifarModel.Load(m.Zip);
        double worst = 0;
        for (int i = 0; i < files.Length; i++)
        {
            var expected = zip.Predict(files[i]);
            Assert.Equal(expected.PredictedLabel, labels[i]);
            Assert.Equal(expected.Score.Length, probabilities[i].Length);
            for (int c = 0; c < expected.Score.Length; c++) worst = Math.Max(worst, Math.Abs(expected.Score[c] - probabilities[i][c]));
        }
        Assert.True(worst <= 1e-5, $"largest probability difference {worst}");
        // Not a constant: the tiny model tells images apart, so agreeing means something.
        Assert.True(probabilities.Select(p => p[0]).Distinct().Count() > 10);
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("views")]
    public void ONNX_Runtime_for_Node_js_scores_real_images_as_the_zip_does(string kind)
    {
        var m = models.Get(kind);
        var script = OnnxRuntimeNode.RequireScript();
        var files = RealImages();
        using var dir = new TestData.TempFolder();
        var pixels = Pixels(files);
        File.WriteAllBytes(dir.File("pixels.f32"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(pixels.Buffer.Span).ToArray());
        var scored = OnnxRuntimeNode.Run(script, m.Onnx, dir.File("pixels.f32"), $"{files.Length},3,32,32");
        Assert.Equal([CifarOnnxExport.InputName], scored.InputNames);
        Assert.Equal([CifarOnnxExport.ProbabilitiesName, CifarOnnxExport.LabelName], scored.OutputNames);
        Assert.Equal([files.Length, 10], scored.ProbabilityDims);
        using var zip = CifarModel.Load(m.Zip);
        double worst = 0;
        for (int i = 0; i < files.Length; i++)
        {
            var expected = zip.Predict(files[i]);
            Assert.Equal(expected.PredictedLabel, scored.Labels[i]);
            for (int c = 0; c < expected.Score.Length; c++) worst = Math.Max(worst, Math.Abs(expected.Score[c] - scored.Probabilities[i][c]));
        }
        Assert.True(worst <= 1e-5, $"largest probability difference {worst}");
    }

    [Fact]
    public void One_image_alone_scores_as_it_does_in_a_batch()
    {
        var m = models.Get("views");
        var files = RealImages();
        var batch = Score(m.Onnx, Pixels(files)).Probabilities;
        var alone = Score(m.Onnx, Pixels([files[5]])).Probabilities.Single();
        for (int c = 0; c < alone.Length; c++) Assert.Equal(batch[5][c], alone[c], 1e-6);
    }

    [Fact]
    public void The_pixels_fed_are_what_the_zips_own_image_steps_give()
    {
        // The contract the metadata states, checked against ML.NET's loading chain on real files.
        var m = models.Get("plain");
        var files = RealImages().Take(4).ToArray();
        using var zip = CifarModel.Load(m.Zip);
        var ml = new MLContext();
        var steps = zip.Transformer.Transform(ml.Data.LoadFromEnumerable(files.Select(f => new ImageInput { ImagePath = f })));
        var expected = steps.GetColumn<float[]>(CifarColumns.Pixels).ToArray();
        var pixels = Pixels(files);
        for (int n = 0; n < files.Length; n++) Assert.Equal(expected[n], pixels.Buffer.Slice(n * CifarImage.Size, CifarImage.Size).ToArray());
    }

    [Theory]
    [InlineData("plain", "1")]
    [InlineData("views", "6")]
    public void The_metadata_read_back_names_the_classes_the_input_and_the_normalization(string kind, string views)
    {
        var m = models.Get(kind);
        using var session = new InferenceSession(m.Onnx);
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal(CifarOnnxExport.MetadataKeys.Order(StringComparer.Ordinal), metadata.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(Classes, System.Text.Json.JsonSerializer.Deserialize<string[]>(metadata["classes"]));
        Assert.Equal(("NCHW", "RGB", "0-255", views), (metadata["layout"], metadata["channel_order"], metadata["pixel_range"], metadata["test_time_views"]));
        Assert.StartsWith("stretched to 32x32", metadata["resize"]);
        Assert.Equal(m.Normalization.Mean, System.Text.Json.JsonSerializer.Deserialize<float[]>(metadata["mean"]));
        Assert.Equal(m.Normalization.Std, System.Text.Json.JsonSerializer.Deserialize<float[]>(metadata["std"]));
        Assert.Equal([-1, 3, 32, 32], session.InputMetadata[CifarOnnxExport.InputName].Dimensions);
        Assert.Equal([CifarOnnxExport.ProbabilitiesName, CifarOnnxExport.LabelName], session.OutputNames);
        Assert.Equal([-1, 10], session.OutputMetadata[CifarOnnxExport.ProbabilitiesName].Dimensions);
        Assert.Equal(int.Parse(views), m.Summary.TestTimeViews);
        Assert.Equal(Classes, m.Summary.ClassNames);
    }

    /// <summary>Runs an export expected to fail; checks the message is one line and that nothing was written.</summary>
    private static string Refused<T>(TestData.TempFolder dir, string model, string onnx) where T : Exception
    {
        var error = Assert.Throws<T>(() => CifarOnnxExport.Write(model, onnx));
        Assert.Equal(typeof(T), error.GetType());
        Assert.DoesNotContain('\n', error.Message);
        Assert.False(File.Exists(onnx) && !Directory.Exists(onnx) && onnx != model, "an ONNX file was written");
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories));
        return error.Message;
    }

    [Fact]
    public void A_zip_that_is_not_a_Cifar_model_is_refused_naming_it()
    {
        using var dir = new TestData.TempFolder();
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(new[] { new ImageInput { ImagePath = "a" } });
        ml.Model.Save(ml.Transforms.Text.FeaturizeText("Features", nameof(ImageInput.ImagePath)).Fit(data), data.Schema, dir.File("text.zip"));
        File.WriteAllText(dir.File("notes.zip"), "not a zip");
        Assert.StartsWith($"{dir.File("text.zip")}: not a Cifar image classifier", Refused<InvalidDataException>(dir, dir.File("text.zip"), dir.File("a.onnx")));
        Assert.StartsWith($"{dir.File("notes.zip")}: not a readable ML.NET model zip", Refused<InvalidDataException>(dir, dir.File("notes.zip"), dir.File("a.onnx")));
        Assert.Equal($"{dir.File("none.zip")}: model file not found", Refused<FileNotFoundException>(dir, dir.File("none.zip"), dir.File("a.onnx")));
    }

    [Fact]
    public void An_output_path_in_a_missing_folder_a_folder_or_the_model_itself_is_refused_before_the_model_is_read()
    {
        using var dir = new TestData.TempFolder();
        File.WriteAllText(dir.File("model.zip"), "never read");
        Assert.Equal($"{dir.File("missing/a.onnx")}: folder {dir.File("missing")} does not exist",
            Refused<DirectoryNotFoundException>(dir, dir.File("model.zip"), dir.File("missing/a.onnx")));
        Directory.CreateDirectory(dir.File("out"));
        Assert.Equal($"{dir.File("out")}: is a folder; give the path of the ONNX file to write", Refused<IOException>(dir, dir.File("model.zip"), dir.File("out")));
        Assert.Empty(Directory.GetFileSystemEntries(dir.File("out")));
        Assert.Equal($"{dir.File("model.zip")}: is the model zip itself; give another path for the ONNX file",
            Refused<IOException>(dir, dir.File("model.zip"), dir.File("model.zip")));
        Assert.Equal("never read", File.ReadAllText(dir.File("model.zip")));
    }

    [Fact]
    public void Exporting_leaves_no_temporary_file()
    {
        var m = models.Get("views");
        using var dir = new TestData.TempFolder();
        using var temp = new TestData.TempFolder();
        CifarOnnxExport.Write(m.Zip, dir.File("model.onnx"), new MLContext(seed: 1) { TempFilePath = temp.Path });
        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
        Assert.Equal(File.ReadAllBytes(m.Onnx), File.ReadAllBytes(dir.File("model.onnx")));
    }

    [Fact]
    public void An_existing_ONNX_file_is_replaced_whole()
    {
        var m = models.Get("plain");
        using var dir = new TestData.TempFolder();
        File.WriteAllText(dir.File("old.onnx"), "old");
        var summary = CifarOnnxExport.Write(m.Zip, dir.File("old.onnx"));
        Assert.Equal(File.ReadAllBytes(m.Onnx), File.ReadAllBytes(dir.File("old.onnx")));
        Assert.Equal(dir.File("old.onnx"), summary.Path);
        Assert.Equal([dir.File("old.onnx")], Directory.GetFiles(dir.Path));
    }
}

/// <summary>tests/onnx-node/score.mjs, run with Node.js and onnxruntime-node: a second runtime, outside .NET.</summary>
internal static class OnnxRuntimeNode
{
    public sealed record Scored(string[] InputNames, string[] OutputNames, int[] ProbabilityDims, float[][] Probabilities, string[] Labels);

    /// <summary>The script; the test fails when node or the package is missing (scripts/test.sh installs both).</summary>
    public static string RequireScript()
    {
        TestData.RequireNode();
        var folder = Path.Combine(TestData.RepoRoot(), "tests", "onnx-node");
        Assert.True(Directory.Exists(Path.Combine(folder, "node_modules", "onnxruntime-node")),
            $"onnxruntime-node is not installed in {folder}: scripts/install-prerequisites.sh --tests installs it");
        return Path.Combine(folder, "score.mjs");
    }

    public static Scored Run(string script, params string[] args)
    {
        var (exit, stdout, stderr) = ChildProcess.Run("node", [script, .. args], TimeSpan.FromMinutes(2));
        Assert.True(exit == 0, $"node exited {exit}: {stderr}");
        return System.Text.Json.JsonSerializer.Deserialize<Scored>(stdout, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!;
    }
}
