using Cifar.Host.Artifacts;
using Cifar.Host.Cli;
using Cifar.Host.Data;
using Cifar.MLNet.Data;
using Microsoft.ML;

namespace Cifar.Host.Commands;

/// <summary><c>cifar evaluate</c>: scores a split through the saved zip alone and reports the metrics.</summary>
internal sealed class EvaluateCommand
{
    public int Run(string modelPath, string split, string? dataRoot, int limit, TextWriter output)
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
        var evaluation = Evaluation.From(ml.MulticlassClassification.Evaluate(model.Transform(data)));
        output.WriteLine($"{modelPath} on {root} ({which.ToString().ToLowerInvariant()}, {evaluation.Images} images)");
        output.Write(EvaluationReport.Full(classes, evaluation));
        return ExitCodes.Success;
    }
}
