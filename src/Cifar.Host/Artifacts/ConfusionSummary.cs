using System.Globalization;
using Cifar.Host.Cli;

namespace Cifar.Host.Artifacts;

/// <summary>Images of one true class predicted as another: one off-diagonal cell of a confusion matrix.</summary>
/// <param name="TrueClass">The images' class, as an index into the class names.</param>
/// <param name="PredictedClass">The class they were predicted as.</param>
/// <param name="Count">How many images.</param>
/// <param name="Share">Their fraction of the true class's images.</param>
internal sealed record ClassConfusion(int TrueClass, int PredictedClass, long Count, double Share);

/// <summary>How one class fared.</summary>
/// <param name="Class">The class, as an index into the class names.</param>
/// <param name="Images">Its images (the matrix row's sum).</param>
/// <param name="Accuracy">The fraction of them classified right; null where it has no image, so it ranks nowhere.</param>
internal sealed record ClassResult(int Class, long Images, double? Accuracy);

/// <summary>
/// What stays readable of a confusion matrix of any size: its largest off-diagonal cells and its worst classes. Computed here
/// once for the plot, evaluation.json and the console alike.
/// </summary>
internal static class ConfusionSummary
{
    /// <summary>Largest confusions listed in the plot, evaluation.json and confusion.txt.</summary>
    public const int LargestListed = 20;

    /// <summary>Worst classes listed in the plot and on the console.</summary>
    public const int WorstListed = 10;

    /// <summary>
    /// The <paramref name="count"/> largest non-zero off-diagonal cells of <paramref name="counts"/> [true][predicted], most images
    /// first; ties go to the lower true class, then the lower predicted class, so the list never depends on sort stability.
    /// </summary>
    public static IReadOnlyList<ClassConfusion> Largest(IReadOnlyList<IReadOnlyList<double>> counts, int count = LargestListed)
    {
        var rowTotals = counts.Select(row => row.Sum()).ToArray();
        // OrderBy followed by Take sorts only as far as it takes: 1,000 classes' million cells stay cheap.
        return Enumerable.Range(0, counts.Count)
            .SelectMany(i => Enumerable.Range(0, counts[i].Count).Where(j => j != i && counts[i][j] > 0)
                .Select(j => new ClassConfusion(i, j, (long)counts[i][j], counts[i][j] / rowTotals[i])))
            .OrderByDescending(c => c.Count).ThenBy(c => c.TrueClass).ThenBy(c => c.PredictedClass)
            .Take(count).ToArray();
    }

    /// <summary>Every class's images and accuracy, in class order.</summary>
    public static IReadOnlyList<ClassResult> PerClass(IReadOnlyList<IReadOnlyList<double>> counts) =>
        counts.Select((row, i) => row.Sum() is var images and > 0
            ? new ClassResult(i, (long)images, row[i] / images)
            : new ClassResult(i, 0, null)).ToArray();

    /// <summary>The <paramref name="count"/> classes with images classified worst; ties go to the lower class.</summary>
    public static IReadOnlyList<ClassResult> Worst(IReadOnlyList<IReadOnlyList<double>> counts, int count = WorstListed) =>
        PerClass(counts).Where(c => c.Accuracy is not null).OrderBy(c => c.Accuracy).ThenBy(c => c.Class).Take(count).ToArray();

    /// <summary>A confusion as table cells, the same in the plot and the text: true class, predicted class, images, share.</summary>
    public static string[] Cells(ClassConfusion c, IReadOnlyList<string> classes) =>
        [Name(classes[c.TrueClass]), Name(classes[c.PredictedClass]), Number(c.Count), Percent(c.Share)];

    /// <summary>A class's result as table cells, the same in the plot and the text: class, accuracy, images.</summary>
    public static string[] Cells(ClassResult c, IReadOnlyList<string> classes) =>
        [Name(classes[c.Class]), c.Accuracy is { } accuracy ? Percent(accuracy) : "", Number(c.Images)];

    // A class name is a folder name: it may hold control characters that would garble a terminal.
    private static string Name(string className) => TextEscaping.ControlCharacters(className);

    private static string Percent(double share) => share.ToString("P1", CultureInfo.InvariantCulture);

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
}
