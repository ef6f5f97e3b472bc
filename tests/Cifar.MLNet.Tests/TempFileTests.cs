using Cifar.MLNet.Prediction;
using Cifar.MLNet.Stages;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Transforms;

namespace Cifar.MLNet.Tests;

/// <summary>
/// ML.NET keeps each ONNX graph it runs as a file in <see cref="MLContext.TempFilePath"/> until its
/// transformer is disposed: what creates them must dispose them.
/// </summary>
public class TempFileTests
{
    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    [Fact]
    public void A_disposed_normalization_stage_leaves_no_temporary_file()
    {
        using var temp = new TestData.TempFolder();
        var ml = new MLContext(seed: 1) { TempFilePath = temp.Path }.KeepOnnxSessionOptionsAlive();
        var pixels = ml.Transforms.LoadCifarImages().Fit(Paths(ml)).Transform(Paths(ml));
        // The constructor, not the catalog extension: ML.NET gives an extension no way to the context's temp folder.
        var stage = new CifarNormalizationEstimator(ml).Fit(pixels);
        Assert.NotEmpty(Directory.GetFiles(temp.Path)); // the saved form's graph: the check below is not vacuous
        stage.Dispose();
        Assert.Empty(Directory.GetFiles(temp.Path));
    }

    [Fact]
    public void Loading_predicting_and_disposing_a_model_leaves_no_temporary_file()
    {
        using var dir = new TestData.TempFolder();
        var zip = dir.File("model.zip");
        SaveModel(zip, classifier: true);
        TestImages.WriteBmp(dir.File("a.bmp"), 32, 32, TestImages.Pattern);

        using var temp = new TestData.TempFolder();
        var model = CifarModel.Load(zip, new MLContext(seed: 1) { TempFilePath = temp.Path });
        Assert.Equal("b", model.Predict(dir.File("a.bmp")).PredictedLabel);
        Assert.Equal("b", model.Predict(File.ReadAllBytes(dir.File("a.bmp"))).PredictedLabel);
        Assert.NotEmpty(Directory.GetFiles(temp.Path));
        model.Dispose();
        Assert.Empty(Directory.GetFiles(temp.Path));
    }

    [Fact]
    public void A_zip_refused_as_not_a_classifier_leaves_no_temporary_file()
    {
        using var dir = new TestData.TempFolder();
        var zip = dir.File("pixels.zip");
        SaveModel(zip, classifier: false);
        using var temp = new TestData.TempFolder();
        var error = Assert.Throws<InvalidDataException>(() => CifarModel.Load(zip, new MLContext(seed: 1) { TempFilePath = temp.Path }));
        Assert.Contains("not a Cifar image classifier", error.Message);
        Assert.Empty(Directory.GetFiles(temp.Path));
    }

    [Fact]
    public void A_classifier_zip_whose_scores_are_not_an_ONNX_graph_is_refused_for_export_leaving_no_file()
    {
        using var dir = new TestData.TempFolder();
        var zip = dir.File("model.zip");
        SaveModel(zip, classifier: true);
        using var temp = new TestData.TempFolder();
        var error = Assert.Throws<InvalidDataException>(() =>
            Export.CifarOnnxExport.Write(zip, dir.File("model.onnx"), new MLContext(seed: 1) { TempFilePath = temp.Path }));
        Assert.Equal($"{zip}: not a Cifar model zip: its ONNX graphs never output 'Score'", error.Message);
        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
        Assert.Equal([zip], Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void A_pipeline_whose_cnn_is_refused_leaves_no_temporary_file()
    {
        // One class: the CNN refuses the data after the stages before it were fitted (and wrote their graph file).
        var error = Assert.Throws<ArgumentException>(() => FitPipeline(new CifarCnnOptions(), "cat"));
        Assert.Contains("at least 2 classes", error.Message);
    }

    [Fact]
    public void A_pipeline_cancelled_in_its_cnn_leaves_no_temporary_file()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => FitPipeline(new CifarCnnOptions { CancellationToken = cancelled.Token }, "cat", "dog"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a zip")]
    public void A_model_file_that_is_not_a_zip_is_refused_leaving_no_temporary_folder(string content)
    {
        // ML.NET makes its ml_dotnet_* folder before opening the archive and leaves it when that fails.
        using var dir = new TestData.TempFolder();
        File.WriteAllText(dir.File("model.zip"), content);
        using var temp = new TestData.TempFolder();
        var error = Assert.Throws<InvalidDataException>(() => CifarModel.Load(dir.File("model.zip"), new MLContext(seed: 1) { TempFilePath = temp.Path }));
        Assert.StartsWith($"{dir.File("model.zip")}: not a readable ML.NET model zip (not a zip archive: ", error.Message);
        Assert.IsType<InvalidDataException>(error.InnerException);
        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
    }

    /// <summary>Loading and (ONNX) normalization stages in a context whose temporary folder is checked empty after the fit fails.</summary>
    private static void FitPipeline(CifarCnnOptions options, params string[] classes)
    {
        using var dir = new TestData.TempFolder();
        foreach (var cls in classes)
        {
            Directory.CreateDirectory(Path.Combine(dir.Path, "train", cls));
            for (int i = 0; i < 2; i++) TestImages.WriteBmp(Path.Combine(dir.Path, "train", cls, $"{i}.bmp"), 32, 32, TestImages.Pattern);
        }
        using var temp = new TestData.TempFolder();
        var ml = new MLContext(seed: 1) { TempFilePath = temp.Path }.KeepOnnxSessionOptionsAlive();
        var data = Data.CifarDataLoader.Load(ml, dir.Path, Data.CifarSplit.Train);
        var stages = new CifarImageLoadingEstimator(ml).Append(new CifarNormalizationEstimator(ml));
        try
        {
            stages.AppendCifarCnn(options with { Training = new TrainingOptions { Epochs = 1, BatchSize = 2, Device = ComputeDevice.Cpu } }).Fit(data);
        }
        finally
        {
            Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
        }
    }

    internal static IDataView Paths(MLContext ml) => ml.Data.LoadFromEnumerable(new[] { new PathRow { ImagePath = "x" } });

    /// <summary>Image loading and the (ONNX) normalization stage, then, as a classifier, fixed probabilities.</summary>
    internal static void SaveModel(string path, bool classifier)
    {
        var ml = new MLContext(seed: 1).KeepOnnxSessionOptionsAlive();
        var paths = Paths(ml);
        var pixels = ml.Transforms.LoadCifarImages().Fit(paths);
        using var normalization = ml.Transforms.NormalizeCifarPixels().Fit(pixels.Transform(paths));
        var stages = new List<ITransformer> { pixels, normalization };
        if (classifier)
        {
            var normalized = normalization.Transform(pixels.Transform(paths));
            var scores = ml.Transforms.CustomMapping(new FixedScores().GetMapping(), FixedScores.ContractName)
                .Append(PredictedLabelMapping.Create(ml))
                .Append(ml.Transforms.DropColumns("PredictedLabelOnnx"))
                .Fit(normalized);
            stages.Add(scores);
        }
        ml.Model.Save(new Microsoft.ML.Data.TransformerChain<ITransformer>(stages.ToArray()), paths.Schema, path);
    }

    /// <summary>A stand-in for the network: probabilities 0.25 and 0.75, class "b".</summary>
    [CustomMappingFactoryAttribute(ContractName)]
    public sealed class FixedScores : CustomMappingFactory<FixedScores.Input, FixedScores.Output>
    {
        public const string ContractName = "Cifar.Tests.FixedScores";

        public override Action<Input, Output> GetMapping() => (input, output) =>
        {
            output.Score = new[] { 0.25f, 0.75f };
            output.PredictedLabelOnnx = new[] { "b" };
        };

        public sealed class Input
        {
            [Microsoft.ML.Data.VectorType(3072)]
            public float[] Features { get; set; } = [];
        }

        public sealed class Output
        {
            [Microsoft.ML.Data.VectorType(2)]
            public float[] Score { get; set; } = [];

            [Microsoft.ML.Data.VectorType(1)]
            public string[] PredictedLabelOnnx { get; set; } = [];
        }
    }
}
