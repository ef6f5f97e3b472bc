// Predicts with a saved model.zip, without libtorch.
// Usage: dotnet run --project samples/PredictOnly -- MODEL.zip IMAGE...
using Cifar.MLNet.Prediction;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Transforms.Onnx;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: PredictOnly MODEL.zip IMAGE...");
    return 2;
}
try
{
    var ml = new MLContext();
    // ONNX Runtime 1.30 lets the session options ML.NET makes for each session be freed while the session is created, if a
    // garbage collection comes then (a rare crash): give ML.NET options that live as long as the context (docs/architecture.md).
    var sessionOptions = new SessionOptions();
    ml.SetOnnxSessionOption(new OnnxSessionOptions { CreateSessionOptions = () => sessionOptions });
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
