using System.Globalization;
using System.Text;
using Microsoft.ML.Data;

namespace Cifar.Host.Artifacts;

/// <summary>Accuracy, macro accuracy, log-loss, per-class accuracy and the confusion matrix as text.</summary>
internal static class EvaluationReport
{
    public static string Summary(MulticlassClassificationMetrics m) =>
        $"accuracy {m.MicroAccuracy:P2}, macro accuracy {m.MacroAccuracy:P2}, log-loss {m.LogLoss:F4}";

    public static string PerClass(IReadOnlyList<string> classes, MulticlassClassificationMetrics m)
    {
        var text = new StringBuilder("per-class accuracy\n");
        int width = classes.Max(c => c.Length);
        for (int i = 0; i < classes.Count; i++)
            text.Append(CultureInfo.InvariantCulture, $"  {classes[i].PadRight(width)}  {m.ConfusionMatrix.PerClassRecall[i]:P1}\n");
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
