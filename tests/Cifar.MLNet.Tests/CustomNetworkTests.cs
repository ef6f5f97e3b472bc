using Cifar.MLNet.Stages;
using Cifar.MLNet.Data;
using Cifar.Networks;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Tests;

/// <summary>A network of the user's own, and warm starts, through the estimator, the zip and back.</summary>
public class CustomNetworkTests
{
    private readonly MLContext _ml = new MLContext(seed: 1).KeepOnnxSessionOptionsAlive();

    /// <summary>A small residual network using every kind of layer.</summary>
    public static NetworkDefinition SmallResidual { get; } = new("SmallResidual",
    [
        new Conv2d(8, KernelSize: 3, Padding: 1, Bias: false), new BatchNorm2d(), new Gelu(),
        new Residual([new Conv2d(8, KernelSize: 3, Padding: 1), new BatchNorm2d(), new Relu()]),
        new MaxPool2d(2), new AvgPool2d(2),
        new Conv2d(16, KernelSize: 3, Padding: 1), new Relu(),
        new GlobalAvgPool(), new Dropout(0.2), new Flatten(), new Linear(),
    ]);

    private (IDataView Train, IDataView Test) ToyData(TestData.TempFolder dir)
    {
        TestImages.WriteBinaryBatches(dir.Path, recordsPerBatch: 40);
        return (CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Train, 80), CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Test, 20));
    }

    private CifarTrainingEstimator Pipeline(CifarCnnOptions options, IDataView? validation = null) =>
        _ml.Transforms.LoadCifarImages().Append(_ml.Transforms.NormalizeCifarPixels()).AppendCifarCnn(options, validation);

    [Fact]
    public void A_residual_network_trains_saves_and_the_reloaded_zip_scores_what_the_trained_network_scores()
    {
        using var dir = new TestData.TempFolder();
        var options = new CifarCnnOptions
        {
            Model = new ModelOptions { Network = SmallResidual },
            Training = new TrainingOptions { Epochs = 2, BatchSize = 4, Device = ComputeDevice.Cpu },
        };
        // An app without libtorch loads it: batch norm, GELU, the residual sum all run in ONNX Runtime.
        AssertTrainsAndTheReloadedZipScoresAsInMemory(dir, options, tolerance: 1e-5);
    }

    [Fact]
    public void The_fast_recipes_network_with_its_test_time_views_saves_a_zip_that_scores_what_the_trained_network_scores()
    {
        using var dir = new TestData.TempFolder();
        var options = new CifarCnnOptions
        {
            Model = new ModelOptions { Architecture = "AirbenchNet", TestTimeAugmentation = TestTimeAugmentation.MirrorTranslate },
            Training = new TrainingOptions
            {
                Epochs = 2, BatchSize = 4, Device = ComputeDevice.Cpu, Optimizer = OptimizerKind.Nesterov, LearningRate = 0.5,
                Momentum = 0.85, BatchNormBiasLearningRateScale = 64, LabelSmoothing = 0.2, LookaheadInterval = 2,
            },
        };
        // Whitening, identity-initialised convolutions, BatchNorm, GELU, the scaled head and the six views, in ONNX Runtime.
        AssertTrainsAndTheReloadedZipScoresAsInMemory(dir, options, tolerance: 1e-4);
    }

    /// <summary>
    /// Trains <paramref name="options"/> for two epochs on image files of two classes (a dozen per split: the zip loads
    /// images by path), saves the zip, and checks the reloaded zip's probabilities against the in-memory model's and
    /// that an app without libtorch predicts with it.
    /// </summary>
    private void AssertTrainsAndTheReloadedZipScoresAsInMemory(TestData.TempFolder dir, CifarCnnOptions options, double tolerance)
    {
        for (int i = 0; i < 24; i++)
        {
            var split = i < 12 ? "train" : "test";
            Directory.CreateDirectory(dir.File($"{split}/class{i % 2}"));
            TestImages.WriteBmp(dir.File($"{split}/class{i % 2}/{i}.bmp"), 32, 32,
                (x, y) => ((byte)(x * 8 + i * 20), (byte)(y * 7 * (1 + i % 2)), (byte)((x * y + i * 13) % 256)));
        }
        var train = CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Train, 0);
        var test = CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Test, 0);
        var model = Pipeline(options, test).Fit(train);
        using var cnn = model.LastTransformer;
        Assert.Equal(options.Training.Epochs, cnn.History.Count);
        var zip = dir.File("model.zip");
        _ml.Model.Save(model, train.Schema, zip);

        var inMemory = model.Transform(test).GetColumn<float[]>("Score").ToArray();
        var reloaded = new MLContext().KeepOnnxSessionOptionsAlive().Model.Load(zip, out _).Transform(test).GetColumn<float[]>("Score").ToArray();
        Assert.Equal(12, reloaded.Length);
        for (int i = 0; i < reloaded.Length; i++)
        {
            Assert.Equal(2, reloaded[i].Length);
            for (int c = 0; c < 2; c++) Assert.Equal(inMemory[i][c], reloaded[i][c], tolerance);
        }
        PredictOnlyApp.AssertPredictsAsTheLibrary(zip, dir.File("test/class1/13.bmp"));
    }

    [Fact]
    public void An_unsupported_layer_is_refused_when_fit_starts_before_any_image_is_read()
    {
        using var dir = new TestData.TempFolder();
        var (train, _) = ToyData(dir);
        var network = SmallResidual with { Layers = [.. SmallResidual.Layers.Take(3), new Swish(), .. SmallResidual.Layers.Skip(3)] };
        var estimator = Pipeline(new CifarCnnOptions { Model = new ModelOptions { Network = network } });
        var error = Assert.Throws<NetworkDefinitionException>(() => estimator.Fit(train));
        Assert.StartsWith("network 'SmallResidual', layer 4 'swish1' (Swish) is not supported (supported: Conv2d", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_last_layer_that_does_not_score_every_class_is_refused_naming_it()
    {
        using var dir = new TestData.TempFolder();
        var (train, _) = ToyData(dir);
        var network = new NetworkDefinition("Narrow", [new Flatten(), new Linear(7)]);
        var error = Assert.Throws<NetworkDefinitionException>(() => Pipeline(new CifarCnnOptions { Model = new ModelOptions { Network = network } }).Fit(train));
        Assert.StartsWith("network 'Narrow' ends in [7]; it must end in [10]", error.Message);
    }

    private sealed record Swish : Layer;

    [Fact]
    public void Weights_of_another_network_are_refused_before_training_naming_the_first_layer_that_differs()
    {
        using var dir = new TestData.TempFolder();
        var (train, _) = ToyData(dir);
        var quick = new TrainingOptions { Epochs = 1, BatchSize = 16, Device = ComputeDevice.Cpu };
        var model = Pipeline(new CifarCnnOptions { Model = new ModelOptions { Network = SmallResidual }, Training = quick }).Fit(train);
        _ml.Model.Save(model, train.Schema, dir.File("small.zip"));
        model.LastTransformer.Dispose();
        var seedCnn = new CifarCnnOptions { Model = new ModelOptions { InitialWeights = dir.File("small.zip") }, Training = quick };
        var error = Assert.Throws<InitialWeightsException>(() => Pipeline(seedCnn).Fit(train));
        Assert.Equal($"{dir.File("small.zip")}: layer 'conv1' differs: weight is [8,3,3,3] there, [64,3,5,5] here", error.Message);
    }
}

[Collection(RealDataModel.Collection)]
public class WarmStartTests
{
    private readonly RealDataModel _fixture;

    public WarmStartTests(RealDataModel fixture) => _fixture = fixture;

    [Fact]
    public void One_epoch_at_a_tiny_learning_rate_from_a_saved_model_keeps_its_validation_accuracy()
    {
        var s = _fixture.Get();
        var saved = s.Model.LastTransformer.History[^1].ValidationAccuracy!.Value;
        double After(string? initialWeights)
        {
            var options = new CifarCnnOptions
            {
                Model = new ModelOptions { InitialWeights = initialWeights },
                Training = new TrainingOptions { Epochs = 1, LearningRate = 1e-9, Device = ComputeDevice.Cpu },
            };
            var model = s.Ml.Transforms.LoadCifarImages().Append(s.Ml.Transforms.NormalizeCifarPixels()).AppendCifarCnn(options, s.Test).Fit(s.Train);
            using var cnn = model.LastTransformer;
            return cnn.History[0].ValidationAccuracy!.Value;
        }
        // From the zip's weights: the same classifier, give or take a prediction or two.
        Assert.Equal(saved, After(s.ZipPath), 0.005);
        // From fresh weights at that rate: chance, which shows the weights did come from the zip.
        Assert.InRange(After(null), 0.0, 0.2);
    }
}
