using Cifar.Host.Artifacts;
using Cifar.Trainer.Training;
using SkiaSharp;

namespace Cifar.Host.Tests;

public class PlotsTests
{
    internal static readonly EpochMetrics[] History =
    [
        new(1, 1.9, 0.30, 1.7, 0.38, 10),
        new(2, 1.5, 0.45, 1.4, 0.49, 10),
        new(3, 1.3, 0.53, 1.3, 0.54, 10),
    ];

    internal static readonly string[] Classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    internal static IReadOnlyList<IReadOnlyList<double>> Counts() =>
        Enumerable.Range(0, 10).Select(i => (IReadOnlyList<double>)Enumerable.Range(0, 10).Select(j => i == j ? 70.0 : (i + j) % 4).ToArray()).ToArray();

    private static SKBitmap Decode(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        return SKBitmap.Decode(png);
    }

    /// <summary>Pixels in the band of rows that are not white: text and lines were drawn there.</summary>
    private static int Inked(SKBitmap bitmap, int fromRow, int toRow)
    {
        int count = 0;
        for (int y = fromRow; y < toRow; y++)
            for (int x = 0; x < bitmap.Width; x++)
                if (bitmap.GetPixel(x, y) != SKColors.White) count++;
        return count;
    }

    [Fact]
    public void Curves_and_the_confusion_matrix_are_pngs_of_their_size_with_their_titles_drawn()
    {
        using (var loss = Decode(Plots.Loss(History)))
        {
            Assert.Equal((800, 500), (loss.Width, loss.Height));
            Assert.True(Inked(loss, 10, 40) > 100, "the title band is blank");
        }
        using (var accuracy = Decode(Plots.Accuracy(History)))
            Assert.Equal((800, 500), (accuracy.Width, accuracy.Height));
        using var confusion = Decode(Plots.Confusion(Classes, Counts()));
        Assert.Equal((130 + 10 * 64 + 30, 70 + 10 * 64 + 120), (confusion.Width, confusion.Height));
        Assert.True(Inked(confusion, 10, 60) > 100, "the title band is blank");
    }

    [Fact]
    public void A_confusion_matrix_of_many_classes_shrinks_its_cells_to_fit()
    {
        foreach (var (n, cell) in new[] { (40, 64), (100, 25), (1000, 2) })
        {
            var classes = Enumerable.Range(0, n).Select(i => $"c{i}").ToArray();
            var counts = classes.Select((_, i) => (IReadOnlyList<double>)classes.Select((_, j) => i == j ? 1.0 : 0.0).ToArray()).ToArray();
            using var plot = Decode(Plots.Confusion(classes, counts));
            Assert.Equal((130 + n * cell + 30, 70 + n * cell + 120), (plot.Width, plot.Height));
        }
    }

    [Fact]
    public void Drawing_again_gives_the_same_bytes()
    {
        // The typeface is shared between plots; sharing it must not change what is drawn.
        byte[][] Draw() => [Plots.Loss(History), Plots.Accuracy(History), Plots.Confusion(Classes, Counts())];
        var first = Draw();
        var again = Draw();
        for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], again[i]);
    }
}
