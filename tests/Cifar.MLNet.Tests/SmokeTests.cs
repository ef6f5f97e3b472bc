using Cifar.MLNet;
using Cifar.MLNet.Data;
using Cifar.MLNet.Prediction;
using Cifar.Tests;
using Microsoft.ML;

namespace Cifar.MLNet.Tests;

public class SmokeTests
{
    [Fact]
    public void Smoke()
    {
        var root = TestData.RequireRoot();
        var ml = new MLContext(seed: 1);
        var train = CifarDataLoader.Load(ml, root, CifarSplit.Train, 500);
        var test = CifarDataLoader.Load(ml, root, CifarSplit.Test, 100);
        var pipeline = ml.Transforms.LoadCifarImages()
            .Append(ml.Transforms.NormalizeCifarPixels())
            .Append(ml.Transforms.AugmentCifarImages())
            .Append(new CifarCnnEstimator(new CifarCnnOptions { Epochs = 1, ValidationSet = test, EpochCompleted = m => Console.WriteLine(m) }));
        var model = pipeline.Fit(train);
        var scored = model.Transform(test);
        foreach (var c in scored.Schema) Console.WriteLine($"{c.Name}: {c.Type} hidden={c.IsHidden}");
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        Console.WriteLine($"acc {metrics.MicroAccuracy}");
        using var tmp = new TestData.TempFolder();
        ml.Model.Save(model, train.Schema, tmp.File("model.zip"));
        var ml2 = new MLContext();
        var loaded = ml2.Model.Load(tmp.File("model.zip"), out _);
        var scored2 = loaded.Transform(test);
        foreach (var c in scored2.Schema) Console.WriteLine($"L {c.Name}: {c.Type} hidden={c.IsHidden}");
        var metrics2 = ml2.MulticlassClassification.Evaluate(scored2);
        Console.WriteLine($"acc2 {metrics2.MicroAccuracy}");
        using var cm = CifarModel.Load(tmp.File("model.zip"));
        var file = Directory.GetFiles(Path.Combine(root, "test", "cat"))[0];
        var p = cm.Predict(file);
        Console.WriteLine($"{p.PredictedLabel} {string.Join(",", p.Score)}");
        var p2 = cm.Predict(File.ReadAllBytes(file));
        Console.WriteLine($"{p2.PredictedLabel} {string.Join(",", p2.Score)}");
    }
}
