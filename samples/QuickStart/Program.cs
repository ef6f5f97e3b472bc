// The tutorial's pipeline as ML.NET stages, on a quick class-balanced subset.
// Usage: dotnet run --project samples/QuickStart -c Release -- [DATA_ROOT] [TRAIN_IMAGES] [TEST_IMAGES] [EPOCHS]
// DATA_ROOT defaults to $CIFAR10_DATA, else ../shared/datasets/cifar10-jpeg, else data/cifar10.
using Cifar.MLNet;
using Cifar.MLNet.Data;
using Cifar.MLNet.Prediction;
using Microsoft.ML;
using Microsoft.ML.Data;

string root = args.Length > 0 ? args[0]
    : Environment.GetEnvironmentVariable("CIFAR10_DATA") is { Length: > 0 } env ? env
    : Directory.Exists("../shared/datasets/cifar10-jpeg") ? "../shared/datasets/cifar10-jpeg" : "data/cifar10";
int trainImages = args.Length > 1 ? int.Parse(args[1]) : 5000;
int testImages = args.Length > 2 ? int.Parse(args[2]) : 1000;
int epochs = args.Length > 3 ? int.Parse(args[3]) : 3;

try
{
    var ml = new MLContext(seed: 1).KeepOnnxSessionOptionsAlive();  // see the README's "Using the library"
    IDataView train = CifarDataLoader.Load(ml, root, CifarSplit.Train, trainImages);
    IDataView test = CifarDataLoader.Load(ml, root, CifarSplit.Test, testImages);

    var pipeline = ml.Transforms.LoadCifarImages()                 // image file → 3×32×32 pixels
        .Append(ml.Transforms.NormalizeCifarPixels())              // (x/255 − 0.5)/0.5
        .Append(ml.Transforms.AugmentCifarImages())                // flip, ColorJitter(), rotation 10°: while fitting only
        .AppendCifarCnn(new CifarCnnOptions                       // the trainer; the test split is featurized by the stages above
        {
            Training = new() { Epochs = epochs },                   // the tutorial trains 15
            EpochCompleted = m => Console.WriteLine(
                $"epoch {m.Epoch}: train loss {m.TrainLoss:F4} acc {m.TrainAccuracy:P1} | val loss {m.ValidationLoss:F4} acc {m.ValidationAccuracy:P1} | {m.Seconds:F1}s"),
        }, test);
    var model = pipeline.Fit(train);
    Console.WriteLine($"trained on {model.LastTransformer.Device}");

    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
    Console.WriteLine($"test accuracy {metrics.MicroAccuracy:P2}, macro {metrics.MacroAccuracy:P2}, log-loss {metrics.LogLoss:F4}");

    ml.Model.Save(model, train.Schema, "model.zip");               // a standard ML.NET zip
    Console.WriteLine($"saved {Path.GetFullPath("model.zip")}");

    var loaded = ml.Model.Load("model.zip", out _);
    var engine = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(loaded);
    string image = test.GetColumn<string>(CifarColumns.ImagePath).FirstOrDefault() ?? "";
    if (image.Length > 0)
    {
        var prediction = engine.Predict(new ImageInput { ImagePath = image });
        Console.WriteLine($"{image}: {prediction.PredictedLabel} ({prediction.Score.Max():P1})");
    }
    return 0;
}
catch (Exception e) when (e is CifarDataException or ArgumentException or InvalidOperationException or IOException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
