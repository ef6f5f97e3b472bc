using Cifar.MLNet.Data;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Tests;

public class EstimatorTests
{
    private readonly MLContext _ml = new MLContext(seed: 1).KeepOnnxSessionOptionsAlive();

    public static TheoryData<CifarCnnOptions, string> BadOptions => new()
    {
        { new() { Training = new() { Epochs = 0 } }, "Training:Epochs must be greater than 0 (got 0)" },
        { new() { Training = new() { BatchSize = -1 } }, "Training:BatchSize must be greater than 0 (got -1)" },
        { new() { Training = new() { LearningRate = double.NaN } }, "Training:LearningRate must be greater than 0 (got NaN)" },
        { new() { Training = new() { WeightDecay = -1 } }, "Training:WeightDecay must be 0 or more (got -1)" },
        { new() { Model = new() { Architecture = "Nope" } }, "Model:Architecture must be one of SeedCnn, AirbenchNet (got 'Nope')" },
        { new() { Resume = true }, "Resume needs a CheckpointPath (got True)" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Bad_options_are_refused_naming_the_option_by_its_configuration_key(CifarCnnOptions options, string message)
    {
        var error = Assert.Throws<OptionsException>(() => new CifarCnnEstimator(options));
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Defaults_are_the_tutorials()
    {
        var o = new CifarCnnOptions();
        Assert.Equal(("SeedCnn", 15, 32, OptimizerKind.Adam, 0.001, 0.0005, true, ComputeDevice.Auto),
            (o.Model.Architecture, o.Training.Epochs, o.Training.BatchSize, o.Training.Optimizer, o.Training.LearningRate,
             o.Training.WeightDecay, o.Training.Shuffle, o.Training.Device));
    }

    private IDataView BinaryData(string folder, CifarSplit split, int limit)
    {
        TestImages.WriteBinaryBatches(folder, recordsPerBatch: 40);
        return CifarDataLoader.Load(_ml, folder, split, limit);
    }

    private CifarTrainingEstimator Pipeline(CifarCnnOptions options, IDataView? rawValidation = null) =>
        _ml.Transforms.LoadCifarImages()
            .Append(_ml.Transforms.NormalizeCifarPixels())
            .Append(_ml.Transforms.AugmentCifarImages())
            .AppendCifarCnn(options, rawValidation);

    [Fact]
    public void Same_seed_gives_the_same_weights_after_a_short_cpu_fit()
    {
        using var dir = new TestData.TempFolder();
        var train = BinaryData(dir.Path, CifarSplit.Train, 64);
        CifarCnnTransformer Fit(int seed) =>
            Pipeline(new CifarCnnOptions { Training = new() { Epochs = 1, BatchSize = 16, Seed = seed, Device = ComputeDevice.Cpu } }).Fit(train).LastTransformer;
        using var a = Fit(7);
        using var b = Fit(7);
        using var c = Fit(8);
        Assert.Equal(a.History[0].TrainLoss, b.History[0].TrainLoss);
        foreach (var (pa, pb) in a.Network.parameters().Zip(b.Network.parameters()))
            Assert.True(pa.allclose(pb, rtol: 0, atol: 0));
        Assert.False(a.Network.parameters().First().allclose(c.Network.parameters().First(), rtol: 0, atol: 0));
    }

    [Fact]
    public void A_raw_validation_set_goes_through_the_same_stages_and_is_scored_every_epoch()
    {
        using var dir = new TestData.TempFolder();
        var train = BinaryData(dir.Path, CifarSplit.Train, 48);
        var test = CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Test, 20);
        var seen = new List<EpochMetrics>();
        var model = Pipeline(new CifarCnnOptions
        {
            Training = new() { Epochs = 2, BatchSize = 16, Device = ComputeDevice.Cpu }, EpochCompleted = seen.Add,
        }, test).Fit(train);
        var cnn = model.LastTransformer;
        Assert.Equal(2, seen.Count);
        Assert.Equal(seen, cnn.History);
        Assert.All(cnn.History, m => Assert.NotNull(m.ValidationAccuracy));
        Assert.All(cnn.History, m => Assert.InRange(m.TrainSeconds!.Value, 0, m.Seconds)); // batches only, no validation
        // The validation accuracy of the last epoch is what Evaluate finds on the same data.
        var evaluated = _ml.MulticlassClassification.Evaluate(model.Transform(test));
        Assert.Equal(cnn.History[^1].ValidationAccuracy!.Value, evaluated.MicroAccuracy, 6);
        // The trainer's own last validation pass agrees with ML.NET's evaluator, confusion matrix included.
        var final = cnn.FinalValidation!;
        Assert.Equal(evaluated.ConfusionMatrix.Counts.Select(r => r.Select(c => (long)c).ToArray()).ToArray(), final.ConfusionMatrix);
        Assert.Equal(evaluated.LogLoss, final.Loss, 4);
    }

    [Fact]
    public void A_string_label_is_refused_with_the_fix()
    {
        var data = _ml.Data.LoadFromEnumerable(new[] { new StringLabelRow() });
        var error = Assert.Throws<ArgumentException>(() => new CifarCnnEstimator(new CifarCnnOptions { Training = new() { Epochs = 1 } }).Fit(data));
        Assert.Contains("key type", error.Message);
        Assert.Contains("MapValueToKey", error.Message);
    }

    private sealed class StringLabelRow
    {
        [Microsoft.ML.Data.VectorType(3072)]
        public float[] Features { get; set; } = new float[3072];
        public string Label { get; set; } = "cat";
    }

    [Fact]
    public void A_validation_set_without_features_is_refused_naming_the_way_to_featurize_it()
    {
        using var dir = new TestData.TempFolder();
        var train = BinaryData(dir.Path, CifarSplit.Train, 20);
        var featurized = _ml.Transforms.LoadCifarImages().Append(_ml.Transforms.NormalizeCifarPixels()).Fit(train).Transform(train);
        var raw = CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Test, 10);
        var estimator = new CifarCnnEstimator(new CifarCnnOptions { Training = new() { Epochs = 1, Device = ComputeDevice.Cpu }, ValidationSet = raw });
        Assert.Equal("the validation set has no 'Features' column: featurize it with the stages fitted on the training data, or end the pipeline with AppendCifarCnn(options, validation), which does",
            Assert.Throws<ArgumentException>(() => estimator.Fit(featurized)).Message);
    }

    [Fact]
    public void Features_of_the_normalization_stage_without_their_pixels_are_refused_before_training()
    {
        using var dir = new TestData.TempFolder();
        var train = BinaryData(dir.Path, CifarSplit.Train, 20);
        var options = new CifarCnnOptions { Training = new() { Epochs = 1, Device = ComputeDevice.Cpu } };
        // The pixels the stage normalized, dropped before the estimator (features from any other transform train as they are).
        var dropped = _ml.Transforms.LoadCifarImages().Append(_ml.Transforms.NormalizeCifarPixels())
            .Append(_ml.Transforms.DropColumns(CifarColumns.Pixels)).Fit(train).Transform(train);
        Assert.Equal("training data has no pixels column 'Pixels' of 32x32 RGB pixels, which the normalization stage read: keep it until the estimator",
            Assert.Throws<ArgumentException>(() => new CifarCnnEstimator(options).Fit(dropped)).Message);
    }

    [Fact]
    public void Data_featurized_and_cached_by_the_caller_trains_with_a_validation_set_featurized_by_the_same_stages()
    {
        using var dir = new TestData.TempFolder();
        var train = BinaryData(dir.Path, CifarSplit.Train, 32);
        var stages = _ml.Transforms.LoadCifarImages().Append(_ml.Transforms.NormalizeCifarPixels()).Fit(train);
        var validation = stages.Transform(CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Test, 10));
        using var cnn = new CifarCnnEstimator(new CifarCnnOptions
        {
            Training = new() { Epochs = 1, BatchSize = 16, Device = ComputeDevice.Cpu }, ValidationSet = validation,
        }).Fit(_ml.Data.Cache(stages.Transform(train)));
        Assert.NotNull(cnn.History[0].ValidationAccuracy);
        Assert.Equal(10, cnn.FinalValidation!.ConfusionMatrix.Sum(row => row.Sum()));
    }

    [Fact]
    public void Cancelling_through_the_options_stops_fit()
    {
        using var dir = new TestData.TempFolder();
        var train = BinaryData(dir.Path, CifarSplit.Train, 64);
        using var cancel = new CancellationTokenSource();
        var options = new CifarCnnOptions
        {
            Training = new() { Epochs = 5, BatchSize = 8, Device = ComputeDevice.Cpu }, CancellationToken = cancel.Token,
            BatchCompleted = p => { if (p.Batch == 2) cancel.Cancel(); },
        };
        Assert.ThrowsAny<OperationCanceledException>(() => Pipeline(options).Fit(train));
    }

    [Fact]
    public void Demanding_cuda_without_a_gpu_fails_fit_with_a_clear_error()
    {
        if (TorchSharp.torch.cuda.is_available()) Assert.Skip("a CUDA GPU is present: the error is for machines without one");
        using var dir = new TestData.TempFolder();
        var train = BinaryData(dir.Path, CifarSplit.Train, 20);
        var error = Assert.Throws<InvalidOperationException>(() =>
            Pipeline(new CifarCnnOptions { Training = new() { Epochs = 1, Device = ComputeDevice.Cuda } }).Fit(train));
        Assert.Contains("no CUDA GPU", error.Message);
    }
}
