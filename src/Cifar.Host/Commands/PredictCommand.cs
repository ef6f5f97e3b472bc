using System.Globalization;
using System.Text.Json;
using Cifar.Host.Cli;
using Cifar.MLNet.Data;
using Cifar.MLNet.Prediction;

namespace Cifar.Host.Commands;

/// <summary>
/// <c>cifar predict</c>: the class of each image, through the saved zip, in parallel on pooled engines.
/// File names are written as <see cref="TextEscaping.Field"/> escapes them (tsv, table), or as JSON strings.
/// </summary>
internal sealed class PredictCommand
{
    public sealed record Result(string Path, string Label, float Probability, IReadOnlyList<ClassProbability> Top3);

    public int Run(string modelPath, string format, IReadOnlyList<string> images, TextWriter output, CancellationToken cancellation)
    {
        format = format.ToLowerInvariant();
        if (format is not ("table" or "tsv" or "json")) throw new UserError($"--format must be table, tsv or json (got '{format}')");
        if (images.Count == 0) throw new UserError("predict: give at least one image path");
        // Every image is checked (readable, a known format, not too large) before the model is opened.
        foreach (var image in images) CheckImage(image);
        using var model = ModelOpener.Open(modelPath);
        var results = new Result[images.Count];
        // Ctrl+C stops between images; the model's disposal cleans up.
        Parallel.For(0, images.Count, new ParallelOptions { CancellationToken = cancellation }, i => results[i] = PredictOne(model, modelPath, images[i]));

        switch (format)
        {
            case "tsv":
                foreach (var r in results)
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{TextEscaping.Field(r.Path)}\t{TextEscaping.Field(r.Label)}\t{r.Probability:F4}"));
                break;
            case "json":
                output.WriteLine(JsonSerializer.Serialize(results.Select(r => new
                {
                    path = r.Path, label = r.Label, probability = r.Probability,
                    top3 = r.Top3.Select(t => new { label = t.Label, probability = t.Probability }),
                }), new JsonSerializerOptions { WriteIndented = true }));
                break;
            default:
                int width = Math.Max(5, results.Max(r => TextEscaping.Field(r.Path).Length));
                output.WriteLine($"{"image".PadRight(width)}  {"class",-12} {"prob",6}   top 3");
                foreach (var r in results)
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{TextEscaping.Field(r.Path).PadRight(width)}  {TextEscaping.Field(r.Label),-12} {r.Probability,6:P1}   {string.Join(", ", r.Top3.Select(t => $"{TextEscaping.Field(t.Label)} {t.Probability:P1}"))}"));
                break;
        }
        return ExitCodes.Success;
    }

    private static void CheckImage(string path)
    {
        try
        {
            ImageFiles.Check(path);
        }
        catch (Exception e) when (e is FileNotFoundException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new UserError(e.Message, e);
        }
    }

    private static Result PredictOne(CifarModel model, string modelPath, string path)
    {
        ImagePrediction p;
        try
        {
            p = model.Predict(path);
        }
        catch (Exception e) when (e is FileNotFoundException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new UserError(e.Message, e); // the image (CifarModel blames it only when it fails to decode on its own)
        }
        catch (CifarModelException e)
        {
            throw new UserError($"{modelPath}: not a usable Cifar model: {e.Message} (predicting {path})", e);
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException e)
        {
            throw new UserError($"{modelPath}: its ONNX graph failed on {path} ({ErrorText.FirstLine(e.Message)})", e);
        }
        var summary = model.Summarize(p);
        return new Result(path, summary.Label, summary.Probability, summary.Top);
    }
}
