using System.Globalization;
using System.Text;
using Microsoft.ML.Data;

namespace Cifar.Host.Artifacts;

/// <summary>What a report shows, from ML.NET's evaluator or from the trainer's own last validation pass.</summary>
/// <param name="Accuracy">Fraction classified right (ML.NET's micro accuracy).</param>
/// <param name="MacroAccuracy">Mean over classes of the per-class accuracy (recall).</param>
/// <param name="LogLoss">Mean cross-entropy, natural log.</param>
/// <param name="PerClassRecall">Per-class accuracy, in class order.</param>
/// <param name="Counts">Confusion counts [true class][predicted class].</param>
internal sealed record Evaluation(double Accuracy, double MacroAccuracy, double LogLoss,
    IReadOnlyList<double> PerClassRecall, IReadOnlyList<IReadOnlyList<double>> Counts)
{
    public static Evaluation From(MulticlassClassificationMetrics m) =>
        new(m.MicroAccuracy, m.MacroAccuracy, m.LogLoss, m.ConfusionMatrix.PerClassRecall, m.ConfusionMatrix.Counts);

    public static Evaluation From(ValidationResult v)
    {
        var counts = v.ConfusionMatrix.Select(row => (IReadOnlyList<double>)row.Select(c => (double)c).ToArray()).ToArray();
        var recall = ConfusionSummary.PerClass(counts).Select(c => c.Accuracy ?? 0).ToArray();
        return new(v.Accuracy, recall.Average(), v.Loss, recall, counts);
    }

    public long Images => (long)Counts.Sum(row => row.Sum());
}

/// <summary>Accuracy, macro accuracy, log-loss, per-class accuracy and the confusion matrix as text.</summary>
internal static class EvaluationReport
{
    public static string Summary(Evaluation e) =>
        $"accuracy {e.Accuracy:P2}, macro accuracy {e.MacroAccuracy:P2}, log-loss {e.LogLoss:F4}";

    public static string PerClass(IReadOnlyList<string> classes, Evaluation e)
    {
        var text = new StringBuilder("per-class accuracy\n");
        int width = classes.Max(c => c.Length);
        for (int i = 0; i < classes.Count; i++)
            text.Append(CultureInfo.InvariantCulture, $"  {classes[i].PadRight(width)}  {e.PerClassRecall[i]:P1}\n");
        return text.ToString();
    }

    /// <summary>Summary, per-class accuracy and confusion matrix: the whole report.</summary>
    public static string Full(IReadOnlyList<string> classes, Evaluation e) =>
        $"{Summary(e)}\n{PerClass(classes, e)}{ConfusionMatrix(classes, e.Counts)}";

    public static string ConfusionMatrix(IReadOnlyList<string> classes, IReadOnlyList<IReadOnlyList<double>> counts)
    {
        int width = Math.Max(classes.Max(c => c.Length), 6);
        var text = new StringBuilder("confusion matrix (rows: true class, columns: predicted)\n");
        text.Append(new string(' ', width + 2));
        foreach (var c in classes) text.Append(' ').Append(c.PadLeft(width));
        text.Append('\n');
        for (int i = 0; i < classes.Count; i++)
        {
            text.Append("  ").Append(classes[i].PadRight(width));
            foreach (var count in counts[i]) text.Append(' ').Append(((long)count).ToString(CultureInfo.InvariantCulture).PadLeft(width));
            text.Append('\n');
        }
        return text.ToString();
    }
}
