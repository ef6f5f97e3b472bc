using System.Globalization;
using Cifar.Host.Cli;
using Cifar.Host.Data;
using Cifar.MLNet.Data;
using Cifar.MLNet.Export;
using Cifar.MLNet.Prediction;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.Host.Commands;

/// <summary>
/// <c>cifar quantize</c>: an int8 copy of a model zip (<see cref="CifarQuantization"/>), calibrated on training images and
/// written only when its accuracy on the test split is within the allowed loss of the float32 model's.
/// </summary>
internal static class QuantizeCommand
{
    public static int Run(string modelPath, string outputPath, string? dataRoot, int? calibrationImages, string? maxDrop, int? limit,
        TextWriter output, CancellationToken cancellation)
    {
        var defaults = new QuantizationOptions();
        var options = new QuantizationOptions
        {
            CalibrationImages = calibrationImages is { } n ? n >= 1 ? n : throw new UserError($"--calibration-images must be 1 or more (got {n})") : defaults.CalibrationImages,
            MaxAccuracyDrop = maxDrop is null ? defaults.MaxAccuracyDrop
                : double.TryParse(maxDrop, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var d) && d >= 0 && double.IsFinite(d) ? d
                : throw new UserError($"--max-accuracy-drop must be a number of points, 0 or more (got '{maxDrop}')"),
        };
        if (limit is < 0) throw new UserError($"--limit must be 0 (all) or more (got {limit})");
        using (ModelOpener.Open(modelPath)) { } // a missing or foreign zip is refused before any data is read
        var ml = new MLContext();
        var root = DataLocator.Resolve(dataRoot);
        var calibration = DataLocator.Load(ml, root, CifarSplit.Train, options.CalibrationImages);
        var check = DataLocator.Load(ml, root, CifarSplit.Test, limit ?? 0);
        long checkImages = check.GetRowCount() ?? check.GetColumn<uint>(Cifar.MLNet.CifarColumns.Label).LongCount();
        output.WriteLine($"{modelPath}: calibrating on {options.CalibrationImages} training images of {root}, then scoring both models on {checkImages} test images");
        output.Flush();
        ModelQuantization made;
        try
        {
            made = CifarQuantization.Quantize(modelPath, outputPath, calibration, check, options, ml, cancellation);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or QuantizationRefusedException)
        {
            throw new UserError(e.Message, e); // each names its path, or both accuracies
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {outputPath}: int8, calibrated on {made.CalibrationImages} images; accuracy on {made.CheckImages} test images: float32 {made.Float32Accuracy * 100:F2} %, int8 {made.Int8Accuracy * 100:F2} % ({(made.Int8Accuracy - made.Float32Accuracy) * 100:+0.00;-0.00;0.00} points, at most -{options.MaxAccuracyDrop:0.##} allowed)"));
        return ExitCodes.Success;
    }
}
