using Cifar.MLNet.Stages;
using Cifar.MLNet.Prediction;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Tests;

[Collection(RealDataModel.Collection)]
public class TrainedModelTests
{
    private readonly RealDataModel _fixture;

    public TrainedModelTests(RealDataModel fixture) => _fixture = fixture;

    [Fact]
    public void A_short_fit_on_real_images_beats_chance_by_a_wide_margin_and_the_loss_goes_down()
    {
        var s = _fixture.Get();
        var history = s.Model.LastTransformer.History;
        Assert.Equal(RealDataModel.Epochs, history.Count);
        Assert.True(history[^1].TrainLoss < history[0].TrainLoss, $"train loss {history[0].TrainLoss} → {history[^1].TrainLoss}");
        Assert.True(history[^1].ValidationLoss < history[0].ValidationLoss, $"validation loss {history[0].ValidationLoss} → {history[^1].ValidationLoss}");
        var metrics = s.Ml.MulticlassClassification.Evaluate(s.Model.Transform(s.Test));
        // Chance is 0.10 on 10 balanced classes and these 3 epochs reach about 0.4: 0.30 is far from both.
        Assert.True(metrics.MicroAccuracy >= 0.30, $"accuracy {metrics.MicroAccuracy}");
        Assert.Equal(history[^1].ValidationAccuracy!.Value, metrics.MicroAccuracy, 6);
    }

    [Fact]
    public void History_is_reported_through_the_callback_as_it_happens()
    {
        var s = _fixture.Get();
        Assert.Equal(s.Reported, s.Model.LastTransformer.History);
        Assert.Equal(new[] { 1, 2, 3 }, s.Reported.Select(m => m.Epoch));
        Assert.All(s.Reported, m =>
        {
            Assert.InRange(m.TrainAccuracy, 0, 1);
            Assert.InRange(m.ValidationAccuracy!.Value, 0, 1);
            Assert.True(m.Seconds > 0);
        });
    }

    [Fact]
    public void Scores_are_probabilities_named_by_class_and_the_predicted_label_is_the_best_one()
    {
        var s = _fixture.Get();
        var scored = s.Model.Transform(s.Test);
        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        scored.Schema["Score"].GetSlotNames(ref slotNames);
        var classes = slotNames.DenseValues().Select(n => n.ToString()).ToArray();
        Assert.Equal(new[] { "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck" }, classes);
        var scores = scored.GetColumn<float[]>("Score").Take(50).ToArray();
        var labels = scored.GetColumn<string>("PredictedLabel").Take(50).ToArray();
        for (int i = 0; i < scores.Length; i++)
        {
            Assert.Equal(1.0, scores[i].Sum(), 4);
            Assert.Equal(classes[Array.IndexOf(scores[i], scores[i].Max())], labels[i]);
        }
    }

    [Fact]
    public void The_reloaded_zip_agrees_with_the_in_memory_model_on_every_test_image()
    {
        var s = _fixture.Get();
        var fresh = new MLContext().KeepOnnxSessionOptionsAlive();
        var loaded = fresh.Model.Load(s.ZipPath, out _);
        var inMemory = s.Model.Transform(s.Test);
        var reloaded = loaded.Transform(s.Test);
        var expectedLabels = inMemory.GetColumn<string>("PredictedLabel").ToArray();
        var actualLabels = reloaded.GetColumn<string>("PredictedLabel").ToArray();
        var expectedScores = inMemory.GetColumn<float[]>("Score").ToArray();
        var actualScores = reloaded.GetColumn<float[]>("Score").ToArray();
        Assert.Equal(RealDataModel.TestImages, actualLabels.Length);
        Assert.Equal(expectedLabels, actualLabels);
        double worst = 0;
        for (int i = 0; i < expectedScores.Length; i++)
            for (int k = 0; k < 10; k++) worst = Math.Max(worst, Math.Abs(expectedScores[i][k] - actualScores[i][k]));
        Assert.True(worst <= 1e-4, $"largest probability difference {worst}");
        Assert.Equal(s.Ml.MulticlassClassification.Evaluate(inMemory).MicroAccuracy,
            fresh.MulticlassClassification.Evaluate(reloaded).MicroAccuracy);
    }

    [Fact]
    public void Predicting_from_a_stream_reads_from_its_position_and_leaves_it_open()
    {
        var s = _fixture.Get();
        using var model = CifarModel.Load(s.ZipPath);
        var file = Directory.EnumerateFiles(Path.Combine(s.Root, "test", "ship")).Order(StringComparer.Ordinal).First();
        var expected = model.Predict(file);
        // The image behind a prefix: read from where the stream stands, as an upload inside a larger buffer is.
        var prefix = new byte[] { 1, 2, 3, 4, 5 };
        using var stream = new MemoryStream([.. prefix, .. File.ReadAllBytes(file)]);
        stream.Position = prefix.Length;
        Assert.Equal(expected.Score, model.Predict(stream, "ship").Score);
        stream.Position = prefix.Length; // still open: a second prediction from the same stream
        Assert.Equal(expected.Score, model.Predict(stream, "ship").Score);
    }

    [Fact]
    public void The_zip_holds_only_standard_ml_net_transformers_and_no_torchsharp()
    {
        var s = _fixture.Get();
        var loaded = new MLContext().KeepOnnxSessionOptionsAlive().Model.Load(s.ZipPath, out _);
        var types = Flatten(loaded).Select(t => t.GetType()).ToArray();
        Assert.All(types, t => Assert.StartsWith("Microsoft.ML", t.Assembly.GetName().Name));
        Assert.Contains(types, t => t.Name == "OnnxTransformer");
        Assert.Contains(types, t => t.Name == "ImageLoadingTransformer");
        Assert.Contains(types, t => t.Name.StartsWith("CustomMappingTransformer"));
        using var zip = System.IO.Compression.ZipFile.OpenRead(s.ZipPath);
        Assert.DoesNotContain(zip.Entries, e => e.FullName.Contains("Torch", StringComparison.OrdinalIgnoreCase));
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer t) =>
        t is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : new[] { t };

    [Fact]
    public void A_prediction_engine_on_the_zip_takes_an_image_path_and_names_the_class()
    {
        var s = _fixture.Get();
        var ml = new MLContext().KeepOnnxSessionOptionsAlive();
        var loaded = ml.Model.Load(s.ZipPath, out _);
        using var engine = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(loaded);
        var file = Directory.GetFiles(Path.Combine(s.Root, "test", "ship")).OrderBy(f => f, StringComparer.Ordinal).First();
        var prediction = engine.Predict(new ImageInput { ImagePath = file });
        Assert.Equal(10, prediction.Score.Length);
        Assert.Equal(1.0, prediction.Score.Sum(), 4);
        var inMemory = s.Model.Transform(s.Ml.Data.LoadFromEnumerable(new[] { new ImageInput { ImagePath = file } }));
        Assert.Equal(inMemory.GetColumn<string>("PredictedLabel").Single(), prediction.PredictedLabel);
    }

    [Fact]
    public void Paths_bytes_and_decoded_images_of_any_size_predict_alike()
    {
        var s = _fixture.Get();
        using var model = CifarModel.Load(s.ZipPath);
        var file = Directory.GetFiles(Path.Combine(s.Root, "test", "frog")).OrderBy(f => f, StringComparer.Ordinal).First();
        var fromPath = model.Predict(file);
        var fromBytes = model.Predict(File.ReadAllBytes(file));
        using var image = MLImage.CreateFromFile(file);
        var fromImage = model.Predict(image);
        Assert.Equal(fromPath.PredictedLabel, fromBytes.PredictedLabel);
        Assert.Equal(fromPath.Score, fromBytes.Score);
        Assert.Equal(fromPath.Score, fromImage.Score);

        using var dir = new TestData.TempFolder();
        TestImages.WriteBmp(dir.File("wide.bmp"), 96, 40, TestImages.Pattern);
        var wide = model.Predict(dir.File("wide.bmp"));
        Assert.Equal(wide.Score, model.Predict(File.ReadAllBytes(dir.File("wide.bmp"))).Score);
        Assert.Equal(1.0, wide.Score.Sum(), 4);
    }

    [Fact]
    public void More_concurrent_predictions_than_the_pool_keeps_all_succeed_and_the_model_stays_usable()
    {
        // The pool keeps 2 engines per processor and disposes the rest on return. Were they created owning the model
        // (ML.NET's default), that would dispose the ONNX sessions they share, and every later prediction would fail.
        var s = _fixture.Get();
        using var model = CifarModel.Load(s.ZipPath);
        var file = Directory.GetFiles(Path.Combine(s.Root, "test", "ship")).OrderBy(f => f, StringComparer.Ordinal).First();
        var bytes = File.ReadAllBytes(file);
        var expected = model.Predict(bytes).Score;
        using var start = new Barrier(Environment.ProcessorCount * 4);
        Concurrently.Run(Environment.ProcessorCount * 4, _ =>
        {
            start.SignalAndWait();
            for (int i = 0; i < 25; i++) Assert.Equal(expected, model.Predict(bytes).Score);
        });
        Assert.Equal(expected, model.Predict(file).Score);
    }

    [Fact]
    public void Augmentation_does_not_touch_scoring_outside_fit()
    {
        var s = _fixture.Get();
        var once = s.Model.Transform(s.Test).GetColumn<float[]>("Score").Take(20).ToArray();
        var twice = s.Model.Transform(s.Test).GetColumn<float[]>("Score").Take(20).ToArray();
        Assert.Equal(once, twice);
    }

    [Fact]
    public void Missing_model_files_are_named()
    {
        var error = Assert.Throws<FileNotFoundException>(() => CifarModel.Load("/nowhere/model.zip"));
        Assert.Contains("/nowhere/model.zip", error.Message);
    }
}

[Collection(RealDataModel.Collection)]
public class PredictOnlyHostTests
{
    private readonly RealDataModel _fixture;

    public PredictOnlyHostTests(RealDataModel fixture) => _fixture = fixture;

    [Fact]
    public void An_app_without_libtorch_loads_the_zip_and_predicts()
    {
        var s = _fixture.Get();
        var image = Directory.GetFiles(Path.Combine(s.Root, "test", "cat")).OrderBy(f => f, StringComparer.Ordinal).First();
        PredictOnlyApp.AssertPredictsAsTheLibrary(s.ZipPath, image);
    }
}

/// <summary>samples/PredictOnly, an app that references Cifar.MLNet and carries no libtorch, run as a process.</summary>
internal static class PredictOnlyApp
{
    /// <summary>Runs it on <paramref name="zip"/> and <paramref name="image"/>; its line must be the library's prediction.</summary>
    public static void AssertPredictsAsTheLibrary(string zip, string image)
    {
        // tests/Cifar.MLNet.Tests/bin/<Configuration>/<tfm>/ → samples/PredictOnly/bin/<Configuration>/<tfm>/
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string tfm = testBin.Name, configuration = testBin.Parent!.Name;
        var repo = testBin.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        var appDir = Path.Combine(repo, "samples", "PredictOnly", "bin", configuration, tfm);
        Assert.True(File.Exists(Path.Combine(appDir, "PredictOnly.dll")), $"PredictOnly not built at {appDir}");
        // No libtorch (libtorch_cpu.so and friends); TorchSharp's own small glue library may be there, unused.
        Assert.Empty(Directory.EnumerateFiles(appDir, "libtorch*", SearchOption.AllDirectories));

        var (exit, output, errors) = ChildProcess.Run("dotnet", [Path.Combine(appDir, "PredictOnly.dll"), zip, image], TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, $"exit {exit}: {errors}");

        using var model = CifarModel.Load(zip);
        var expected = model.Predict(image);
        var fields = output.Trim().Split('\t');
        Assert.Equal(image, fields[0]);
        Assert.Equal(expected.PredictedLabel, fields[1]);
        Assert.Equal(expected.Score.Max(), float.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture), 3);
    }
}
