// Predicts with a saved model.zip, without libtorch.
// Usage: dotnet run --project samples/PredictOnly -- MODEL.zip IMAGE...
using Cifar.MLNet;
using Cifar.MLNet.Prediction;
using Microsoft.ML;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: PredictOnly MODEL.zip IMAGE...");
    return 2;
}
try
{
    var ml = new MLContext().KeepOnnxSessionOptionsAlive(); // ONNX Runtime 1.30 could free its session options mid-load
    var model = ml.Model.Load(args[0], out _);
    using var engine = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(model);
    foreach (var image in args.Skip(1))
    {
        var prediction = engine.Predict(new ImageInput { ImagePath = image });
        Console.WriteLine($"{image}\t{prediction.PredictedLabel}\t{prediction.Score.Max():F4}");
    }
    return 0;
}
catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException or FormatException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
