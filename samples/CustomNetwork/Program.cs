// Bring your own network: a small residual network, defined from the supported layers, trained on a
// class-balanced subset and saved as a standard ML.NET zip that an app without libtorch loads.
// Usage: dotnet run --project samples/CustomNetwork -c Release -- --output DIR [--train N] [--test N] [--epochs N]
// Data: $CIFAR10_DATA, else ../shared/datasets/cifar10-jpeg, else data/cifar10.
using Cifar;
using Cifar.MLNet;
using Cifar.MLNet.Data;
using Cifar.MLNet.Prediction;
using Cifar.Networks;
using Microsoft.ML;
using Microsoft.ML.Data;

string? output = null;
int trainImages = 5000, testImages = 1000, epochs = 5;
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : "";
    int Count(string value) => int.TryParse(value, out var n) && n > 0 ? n : -1;
    switch (args[i])
    {
        case "--output": output = Next() is { Length: > 0 } folder ? folder : null; break;
        case "--train": trainImages = Count(Next()); break;
        case "--test": testImages = Count(Next()); break;
        case "--epochs": epochs = Count(Next()); break;
        default: Console.Error.WriteLine($"error: unknown argument '{args[i]}' (--output DIR [--train N] [--test N] [--epochs N])"); return 2;
    }
}
if (output is null || trainImages < 0 || testImages < 0 || epochs < 0)
{
    Console.Error.WriteLine("error: usage: --output DIR [--train N] [--test N] [--epochs N], N a whole number above 0");
    return 2;
}
string root = Environment.GetEnvironmentVariable("CIFAR10_DATA") is { Length: > 0 } env ? env
    : Directory.Exists("../shared/datasets/cifar10-jpeg") ? "../shared/datasets/cifar10-jpeg" : "data/cifar10";

// conv–BN–ReLU stem, two residual blocks with pooling between, global average pooling, a linear head.
static Layer[] ConvBn(int channels) => [new Conv2d(channels, KernelSize: 3, Padding: 1, Bias: false), new BatchNorm2d(), new Relu()];
var network = new NetworkDefinition("SmallResNet",
[
    .. ConvBn(32),
    new Residual([.. ConvBn(32), new Conv2d(32, KernelSize: 3, Padding: 1, Bias: false), new BatchNorm2d()]) { Name = "block1" },
    new Relu(),
    new MaxPool2d(2),
    .. ConvBn(64),
    new Residual([.. ConvBn(64), new Conv2d(64, KernelSize: 3, Padding: 1, Bias: false), new BatchNorm2d()]) { Name = "block2" },
    new Relu(),
    new GlobalAvgPool(),
    new Dropout(0.1),
    new Linear(), // one score per class
]);

try
{
    var ml = new MLContext(seed: 1).KeepOnnxSessionOptionsAlive(); // its normalization stage makes an ONNX session (README)
    var train = CifarDataLoader.Load(ml, root, CifarSplit.Train, trainImages);
    var test = CifarDataLoader.Load(ml, root, CifarSplit.Test, testImages);
    var pipeline = ml.Transforms.LoadCifarImages()
        .Append(ml.Transforms.NormalizeCifarPixels())
        .Append(ml.Transforms.AugmentCifarImages(new AugmentationOptions { HorizontalFlip = true }))
        .AppendCifarCnn(new CifarCnnOptions
        {
            Model = new ModelOptions { Network = network },
            Training = new TrainingOptions { Epochs = epochs, BatchSize = 64, Optimizer = OptimizerKind.Sgd, LearningRate = 0.05 },
            EpochCompleted = m => Console.WriteLine(
                $"epoch {m.Epoch}: train loss {m.TrainLoss:F4} acc {m.TrainAccuracy:P1} | val acc {m.ValidationAccuracy:P1} | {m.Seconds:F1}s"),
        }, test);
    var model = pipeline.Fit(train);
    using var cnn = model.LastTransformer;

    Directory.CreateDirectory(output);
    var zip = Path.Combine(output, "model.zip");
    ml.Model.Save(model, train.Schema, zip);
    Console.WriteLine($"saved {Path.GetFullPath(zip)} ({network.Name}, trained on {cnn.Device})");

    // What a host does: load the zip (ONNX inside; no libtorch needed) and predict.
    using var loaded = CifarModel.Load(zip);
    if (test.Schema.GetColumnOrNull(CifarColumns.ImagePath) is not null) // image folders, not the binary batches
    {
        var image = test.GetColumn<string>(CifarColumns.ImagePath).First();
        var prediction = loaded.Predict(image);
        Console.WriteLine($"{image}: {prediction.PredictedLabel} ({prediction.Score.Max():P1})");
    }
    return 0;
}
catch (Exception e) when (e is CifarDataException or ArgumentException or InvalidOperationException or IOException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
