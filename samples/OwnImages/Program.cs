// Trains the tutorial's network on your own folder of class folders, featurized by ML.NET's own image transforms.
// Usage: dotnet run --project samples/OwnImages -c Release -- DATA_ROOT WIDTH HEIGHT rgb|grey EPOCHS OUTPUT.zip [CLASS,CLASS,...]
// DATA_ROOT is root/{train,test}/<class>/* (the test split validates) or root/<class>/* (20 % of each class validates).
// TRAIN_LIMIT / TEST_LIMIT (environment, optional): class-balanced subsets over all the root's classes, taken before CLASS,...
// Then predict without libtorch: dotnet run --project samples/PredictOnly -c Release -- OUTPUT.zip IMAGE...
using Cifar.MLNet;
using Cifar.MLNet.Data;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Image;

if (args.Length is < 6 or > 7 || args[3] is not ("rgb" or "grey") || !int.TryParse(args[1], out int width)
    || !int.TryParse(args[2], out int height) || !int.TryParse(args[4], out int epochs))
{
    Console.Error.WriteLine("usage: OwnImages DATA_ROOT WIDTH HEIGHT rgb|grey EPOCHS OUTPUT.zip [CLASS,CLASS,...]");
    return 2;
}
bool grey = args[3] == "grey";
string output = args[5];
try
{
    var ml = new MLContext(seed: 1);
    var limits = new ImageFolderOptions
    {
        TrainLimit = int.TryParse(Environment.GetEnvironmentVariable("TRAIN_LIMIT"), out int t) ? t : 0,
        ValidationLimit = int.TryParse(Environment.GetEnvironmentVariable("TEST_LIMIT"), out int v) ? v : 0,
    };
    var data = ImageFolderData.Load(ml, args[0], limits);          // ImagePath + key Label, train and validation
    var (train, test) = args.Length > 6 ? KeepClasses(ml, data, args[6].Split(',')) : (data.Train, data.Validation);
    int Count(IDataView rows) => rows.GetColumn<string>("ImagePath").Count();
    Console.WriteLine($"{args[0]}: {Count(train)} training, {Count(test)} test images of {(args.Length > 6 ? args[6] : string.Join(",", data.ClassNames))}");

    // ML.NET's own transforms: stretch to WIDTH x HEIGHT, grey or RGB planes, (x − 127.5) / 127.5 as the tutorial's Normalize(0.5, 0.5).
    IEstimator<ITransformer> featurize = ml.Transforms.LoadImages("Image", imageFolder: null, "ImagePath")
        .Append(ml.Transforms.ResizeImages("Image", width, height, resizing: ImageResizingEstimator.ResizingKind.Fill));
    if (grey) featurize = featurize.Append(ml.Transforms.ConvertToGrayscale("Image"));
    featurize = featurize.Append(ml.Transforms.ExtractPixels("Features", "Image",
        colorsToExtract: grey ? ImagePixelExtractingEstimator.ColorBits.Red : ImagePixelExtractingEstimator.ColorBits.Rgb,
        interleavePixelColors: false, offsetImage: 127.5f, scaleImage: 1 / 127.5f));

    var options = new CifarCnnOptions                              // the tutorial's SeedCnn, Adam 0.001, weight decay 5e-4, batch 32
    {
        Training = new() { Epochs = epochs },
        ValidationSet = featurize.Fit(test).Transform(test),       // the test split, featurized the same way
        EpochCompleted = m => Console.WriteLine(
            $"epoch {m.Epoch}: train loss {m.TrainLoss:F4} acc {m.TrainAccuracy:P2} | test loss {m.ValidationLoss:F4} acc {m.ValidationAccuracy:P2} | {m.Seconds:F1}s"),
    };
    var clock = System.Diagnostics.Stopwatch.StartNew();
    var model = featurize.Append(new CifarCnnEstimator(options, ml)).Fit(train);
    Console.WriteLine($"trained {model.LastTransformer.ImageFormat} images on {model.LastTransformer.Device} in {clock.Elapsed.TotalSeconds:F0}s");

    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
    Console.WriteLine($"test accuracy {metrics.MicroAccuracy:P2}, macro {metrics.MacroAccuracy:P2}");
    ml.Model.Save(model, train.Schema, output);                    // a standard ML.NET zip
    Console.WriteLine($"saved {Path.GetFullPath(output)}");
    model.LastTransformer.Dispose();
    return 0;
}
catch (Exception e) when (e is CifarDataException or ArgumentException or InvalidOperationException or IOException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

// Only the rows of the given classes, keyed over those classes alone (in ordinal order, as ImageFolderData keys them).
static (IDataView Train, IDataView Test) KeepClasses(MLContext ml, ImageFolderSplits data, string[] keep)
{
    if (keep.FirstOrDefault(c => !data.ClassNames.Contains(c)) is { } unknown)
        throw new ArgumentException($"no class '{unknown}' in {string.Join(", ", data.ClassNames)}");
    IDataView Rows(IDataView view) => ml.Data.LoadFromEnumerable(ml.Data
        .CreateEnumerable<ClassRow>(ml.Transforms.Conversion.MapKeyToValue("Class", "Label").Fit(view).Transform(view), reuseRowObject: false)
        .Where(row => keep.Contains(row.Class)).ToList());
    var (train, test) = (Rows(data.Train), Rows(data.Validation));
    var key = ml.Transforms.Conversion.MapValueToKey("Label", "Class", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(train);
    return (key.Transform(train), key.Transform(test));
}

sealed class ClassRow
{
    public string ImagePath { get; set; } = "";
    public string Class { get; set; } = "";
}
