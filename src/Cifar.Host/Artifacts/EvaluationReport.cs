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

/// <summary>Accuracy, macro accuracy, log-loss, per-class accuracy, the largest confusions and the confusion matrix as text.</summary>
internal static class EvaluationReport
{
    /// <summary>Largest confusions the console lists for many classes: the start of the list confusion.txt and evaluation.json keep.</summary>
    public const int ConsoleConfusions = 10;

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

    /// <summary>Summary, per-class accuracy, largest confusions and confusion matrix: the whole report.</summary>
    public static string Full(IReadOnlyList<string> classes, Evaluation e) =>
        $"{Summary(e)}\n{PerClass(classes, e)}{LargestConfusions(classes, e.Counts, ConfusionSummary.LargestListed)}{ConfusionMatrix(classes, e.Counts)}";

    /// <summary>What a console shows of many classes instead of a line per class and the matrix: the worst classes and largest confusions.</summary>
    public static string Bounded(IReadOnlyList<string> classes, Evaluation e) =>
        WorstClasses(classes, e.Counts) + LargestConfusions(classes, e.Counts, ConsoleConfusions);

    /// <summary>"worst N of M classes:" and an aligned line per class: accuracy, images.</summary>
    public static string WorstClasses(IReadOnlyList<string> classes, IReadOnlyList<IReadOnlyList<double>> counts)
    {
        var worst = ConfusionSummary.Worst(counts);
        return Aligned($"worst {worst.Count} of {classes.Count} classes:", ["class", "accuracy", "images"], [false, true, true],
            worst.Select(c => ConfusionSummary.Cells(c, classes)));
    }

    /// <summary>"largest N confusions ...:" and an aligned line per cell: true class, predicted class, images, share of the true class.</summary>
    public static string LargestConfusions(IReadOnlyList<string> classes, IReadOnlyList<IReadOnlyList<double>> counts, int count)
    {
        var largest = ConfusionSummary.Largest(counts, count);
        if (largest.Count == 0) return "largest confusions: none, every image was classified right\n";
        return Aligned($"largest {largest.Count} confusions (images of a class predicted as another):", ["true class", "predicted as", "images", "share"],
            [false, false, true, true],
            largest.Select(c => ConfusionSummary.Cells(c, classes)));
    }

    /// <summary>A title line, then the header and rows indented, each column as wide as its widest cell.</summary>
    private static string Aligned(string title, string[] header, bool[] alignRight, IEnumerable<string[]> rows)
    {
        var table = rows.Prepend(header).ToArray();
        var widths = header.Select((_, c) => table.Max(row => row[c].Length)).ToArray();
        var text = new StringBuilder(title).Append('\n');
        foreach (var row in table)
            text.Append("  ").AppendJoin("  ", row.Select((cell, c) => alignRight[c] ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]))).Append('\n');
        return text.ToString();
    }

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
