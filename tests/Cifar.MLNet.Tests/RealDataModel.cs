using Cifar.MLNet.Data;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Tests;

/// <summary>
/// One short run of the tutorial's pipeline on real CIFAR-10 images, shared by the tests that
/// check what it learned and how it saves: 3,000 training images (300 per class), 1,000 test
/// images, 3 epochs with the tutorial's augmentation, on the CPU. A collection fixture, so every
/// class in <see cref="Collection"/> shares one run: training is the slow part.
/// </summary>
public sealed class RealDataModel : IDisposable
{
    public const int TrainImages = 3000, TestImages = 1000, Epochs = 3;
    public const string Collection = "real-data model";

    private readonly Lazy<State> _state = new(Train);

    public sealed record State(MLContext Ml, IDataView Train, IDataView Test, TransformerChain<CifarCnnTransformer> Model,
        List<EpochMetrics> Reported, string Root, TestData.TempFolder Folder, string ZipPath);

    /// <summary>The trained state; skips (fails under CI) without the real data.</summary>
    public State Get()
    {
        TestData.RequireRoot();
        return _state.Value;
    }

    private static State Train()
    {
        var root = TestData.RequireRoot();
        var ml = new MLContext(seed: 1).KeepOnnxSessionOptionsAlive();
        var train = CifarDataLoader.Load(ml, root, CifarSplit.Train, TrainImages);
        var test = CifarDataLoader.Load(ml, root, CifarSplit.Test, TestImages);
        var reported = new List<EpochMetrics>();
        var pipeline = ml.Transforms.LoadCifarImages()
            .Append(ml.Transforms.NormalizeCifarPixels())
            .Append(ml.Transforms.AugmentCifarImages())
            .AppendCifarCnn(new CifarCnnOptions
            {
                Training = new() { Epochs = Epochs, Device = ComputeDevice.Cpu },
                EpochCompleted = reported.Add,
            }, test);
        var model = pipeline.Fit(train);
        var folder = new TestData.TempFolder();
        var zip = folder.File("model.zip");
        ml.Model.Save(model, train.Schema, zip);
        return new State(ml, train, test, model, reported, root, folder, zip);
    }

    public void Dispose()
    {
        if (!_state.IsValueCreated) return;
        _state.Value.Model.LastTransformer.Dispose();
        _state.Value.Folder.Dispose();
    }
}

[CollectionDefinition(RealDataModel.Collection)]
public sealed class RealDataModelCollection : ICollectionFixture<RealDataModel>;
