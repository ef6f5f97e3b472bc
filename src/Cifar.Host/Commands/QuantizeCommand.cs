using System.Globalization;
using Cifar.Host.Cli;
using Cifar.Host.Configuration;
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
        int? weightBits, TextWriter output, CancellationToken cancellation)
    {
        var defaults = new QuantizationOptions();
        var options = new QuantizationOptions
        {
            CalibrationImages = calibrationImages is { } n ? n >= 1 ? n : throw new UserError($"--calibration-images must be 1 or more (got {n})") : defaults.CalibrationImages,
            MaxAccuracyDrop = maxDrop is null ? defaults.MaxAccuracyDrop
                : ConfigNumbers.TryNumber(maxDrop, out var d) && d >= 0 ? d
                : throw new UserError($"--max-accuracy-drop must be a number of points, 0 or more (got '{maxDrop}')"),
            WeightBits = weightBits is null or 7 or 8 ? weightBits : throw new UserError($"--weight-bits must be 7 or 8 (got {weightBits})"),
        };
        if (limit is < 0) throw new UserError($"--limit must be 0 (all) or more (got {limit})");
        IReadOnlyList<string> modelClasses;
        using (var model = ModelOpener.Open(modelPath)) modelClasses = model.ClassNames; // a missing or foreign zip is refused before any data is read
        var ml = new MLContext();
        var root = DataLocator.Resolve(dataRoot);
        var calibration = DataLocator.Load(ml, root, CifarSplit.Train, options.CalibrationImages);
        var check = DataLocator.Load(ml, root, CifarSplit.Test, limit ?? 0);
        var classes = CifarDataLoader.ClassNames(check);
        if (modelClasses.Count > 0 && !modelClasses.SequenceEqual(classes))
            throw new UserError($"{root}: its classes ({string.Join(", ", classes)}) are not the model's ({string.Join(", ", modelClasses)})");
        long checkImages = check.GetRowCount() ?? check.GetColumn<uint>(Cifar.MLNet.CifarColumns.Label).LongCount();
        output.WriteLine($"{modelPath}: calibrating on {options.CalibrationImages} training images of {root}, then scoring both models on {checkImages} test images");
        output.Flush();
        ModelQuantization made;
        try
        {
            // Ctrl+C stops calibration and both scorings between rows.
            made = CifarQuantization.Quantize(modelPath, outputPath, new CancellableDataView(calibration, cancellation),
                new CancellableDataView(check, cancellation), options, ml, cancellation);
        }
        catch (Exception e) when (EvaluateCommand.Cause<CifarDataException>(e) is { } unusable)
        {
            throw new UserError(unusable.Message, e); // an image file checked before decoding: missing, unreadable, too large
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or QuantizationRefusedException
                                  or ArgumentException)
        {
            throw new UserError(e.Message, e); // each names its path, the data's problem, or both accuracies
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {outputPath}: int8 ({made.WeightBits}-bit weights), calibrated on {made.CalibrationImages} images; accuracy on {made.CheckImages} test images: float32 {made.Float32Accuracy * 100:F2} %, int8 {made.Int8Accuracy * 100:F2} % ({(made.Int8Accuracy - made.Float32Accuracy) * 100:+0.00;-0.00;0.00} points, at most -{options.MaxAccuracyDrop:0.##} allowed)"));
        return ExitCodes.Success;
    }
}
