using Cifar.Host.Artifacts;
using Cifar.Host.Cli;
using Cifar.Host.Data;
using Cifar.MLNet;
using Cifar.MLNet.Data;
using Cifar.MLNet.Prediction;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.Host.Commands;

/// <summary><c>cifar evaluate</c>: scores a split through the saved zip alone and reports the metrics.</summary>
internal sealed class EvaluateCommand
{
    public int Run(string modelPath, string split, string? dataRoot, int limit, TextWriter output, CancellationToken cancellation)
    {
        var which = split.ToLowerInvariant() switch
        {
            "test" => CifarSplit.Test,
            "train" => CifarSplit.Train,
            _ => throw new UserError($"--split must be test or train (got '{split}')"),
        };
        if (limit < 0) throw new UserError($"--limit must be 0 (all) or more (got {limit})");
        using var model = ModelOpener.Open(modelPath);
        var ml = new MLContext();
        var root = DataLocator.Resolve(dataRoot);
        var data = DataLocator.Load(ml, root, which, limit);
        var classes = CifarDataLoader.ClassNames(data);
        if (model.ClassNames.Count > 0 && !model.ClassNames.SequenceEqual(classes))
            throw new UserError($"{root}: its classes ({string.Join(", ", classes)}) are not the model's ({string.Join(", ", model.ClassNames)})");
        long images = data.GetRowCount() ?? data.GetColumn<uint>(CifarColumns.Label).LongCount();
        output.WriteLine($"{modelPath} on {root} ({which.ToString().ToLowerInvariant()}, {images} images)");
        output.Flush();
        // Ctrl+C stops the scoring between rows.
        var evaluation = Evaluation.From(Score(ml, model, modelPath, new CancellableDataView(data, cancellation)));
        // A line per class and the matrix suit a terminal only for a few classes.
        output.Write(classes.Count <= ClassCounts.ConsoleTableLimit
            ? EvaluationReport.Full(classes, evaluation)
            : $"{EvaluationReport.Summary(evaluation)}\n{EvaluationReport.Bounded(classes, evaluation)}");
        return ExitCodes.Success;
    }

    private static Microsoft.ML.Data.MulticlassClassificationMetrics Score(MLContext ml, CifarModel model, string modelPath, IDataView data)
    {
        try
        {
            return ml.MulticlassClassification.Evaluate(model.Transform(data));
        }
        catch (Exception e) when (Cause<CifarDataException>(e) is { } unusable)
        {
            throw new UserError(unusable.Message, e); // an image file checked before decoding: missing, unreadable, too large
        }
        catch (Exception e) when (Cause<CifarModelException>(e) is { } bad)
        {
            throw new UserError($"{modelPath}: not a usable Cifar model: {bad.Message}", e);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or FormatException
                                  && CifarDataLoader.FirstUndecodableImage(data) is { } bad)
        {
            // ML.NET decodes on worker threads, so the failing file is found again by decoding each one alone.
            throw new UserError($"{bad}: not an image that can be decoded ({ErrorText.FirstLine(e.GetBaseException().Message)})", e);
        }
    }

    // ML.NET rethrows what a column's getter threw on its worker threads wrapped, once or more.
    internal static T? Cause<T>(Exception e) where T : Exception
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is T found) return found;
            if (x is AggregateException a && a.InnerExceptions.Select(Cause<T>).FirstOrDefault(f => f is not null) is { } inner) return inner;
        }
        return null;
    }
}
