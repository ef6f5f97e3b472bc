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

    /// <summary>Pixels in the band of rows (and columns, where given) that are not white: text and lines were drawn there.</summary>
    private static int Inked(SKBitmap bitmap, int fromRow, int toRow, int fromColumn = 0, int? toColumn = null)
    {
        int count = 0;
        for (int y = fromRow; y < toRow; y++)
            for (int x = fromColumn; x < (toColumn ?? bitmap.Width); x++)
                if (bitmap.GetPixel(x, y) != SKColors.White) count++;
        return count;
    }

    /// <summary><paramref name="n"/> classes "c0"…: each row right on the diagonal <paramref name="right"/> times, and wrong once for each of the next <paramref name="wrong"/> classes.</summary>
    private static (string[] Classes, IReadOnlyList<IReadOnlyList<double>> Counts) Matrix(int n, double right = 1, int wrong = 0)
    {
        var classes = Enumerable.Range(0, n).Select(i => $"c{i}").ToArray();
        var counts = classes.Select((_, i) => (IReadOnlyList<double>)classes.Select((_, j) =>
            i == j ? right : (j - i + n) % n <= wrong ? 1.0 : 0.0).ToArray()).ToArray();
        return (classes, counts);
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

    /// <summary>Pixels of the validation curve's orange (antialiased edges included) in columns [from, to).</summary>
    private static int Orange(SKBitmap bitmap, int fromColumn, int toColumn)
    {
        int count = 0;
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = fromColumn; x < toColumn; x++)
                if (bitmap.GetPixel(x, y) is { Red: > 200, Green: > 90 and < 170, Blue: < 90 }) count++;
        return count;
    }

    [Fact]
    public void Epochs_without_validation_leave_the_validation_curve_out_there_and_its_line_joins_the_validated_ones()
    {
        // Validated after epochs 2, 4 and 5 (Training:ValidationInterval 2 over 5 epochs).
        EpochMetrics[] sparse =
        [
            new(1, 1.9, 0.30, null, null, 10), new(2, 1.5, 0.45, 1.4, 0.49, 10), new(3, 1.3, 0.53, null, null, 10),
            new(4, 1.2, 0.58, 1.2, 0.57, 10), new(5, 1.1, 0.62, 1.15, 0.60, 10),
        ];
        using var plot = Decode(Plots.Accuracy(sparse));
        // Epoch e lies at x = 80 + (e − 1) / 4 · 690; the dots have a radius of 4; the legend starts at x = 640.
        Assert.Equal(0, Orange(plot, 0, 244));
        Assert.True(Orange(plot, 248, 258) > 20, "no dot at epoch 2");
        Assert.True(Orange(plot, 420, 430) > 5, "no line across epoch 3 from epoch 2 to 4");
        Assert.True(Orange(plot, 593, 603) > 20, "no dot at epoch 4");
        using var none = Decode(Plots.Accuracy(sparse.Select(m => m with { ValidationLoss = null, ValidationAccuracy = null }).ToArray()));
        Assert.Equal(0, Orange(none, 0, none.Width));
    }

    [Fact]
    public void An_epoch_without_validation_has_empty_cells_and_a_line_without_it()
    {
        EpochMetrics[] history = [new(1, 1.5, 0.25, null, null, 12.34), new(2, 1.25, 0.5, 1.125, 0.5, 10)];
        Assert.Equal(["epoch,train_loss,train_acc,val_loss,val_acc,seconds", "1,1.5,0.25,,,12.34", "2,1.25,0.5,1.125,0.5,10"],
            MetricsFiles.ToCsv(history).TrimEnd('\n').Split('\n'));
        Assert.Equal("Epoch 1/2: train loss 1.5000, train acc 25.00 % | 12.3s", Cifar.Host.Commands.EpochReport.EpochLine(history[0], 2));
        Assert.Equal("Epoch 2/2: train loss 1.2500, train acc 50.00 % | val loss 1.1250, val acc 50.00 % | 10.0s",
            Cifar.Host.Commands.EpochReport.EpochLine(history[1], 2));
    }

    [Fact]
    public void Up_to_forty_classes_the_whole_matrix_is_drawn_with_64_pixel_cells()
    {
        var (classes, counts) = Matrix(40);
        using var plot = Decode(Plots.Confusion(classes, counts));
        Assert.Equal((130 + 40 * 64 + 30, 70 + 40 * 64 + 120), (plot.Width, plot.Height));
    }

    [Fact]
    public void Long_class_names_are_cut_to_the_matrix_margin()
    {
        var classes = Classes.Select((c, i) => i == 3 ? new string('w', 200) + " cat" : c).ToArray();
        using var plot = Decode(Plots.Confusion(classes, Counts()));
        // Row names end 8 pixels left of the matrix (x 122) and are at most 114 wide: x 0 to 8 stays white.
        Assert.Equal(0, Inked(plot, 0, plot.Height, 0, 130 - 8 - 114));
        Assert.True(Inked(plot, 70 + 3 * 64, 70 + 4 * 64, 8, 122) > 100, "the long name is not drawn");
    }

    [Theory]
    [InlineData(41)]
    [InlineData(100)]
    [InlineData(1000)]
    public void Beyond_forty_classes_the_plot_is_tables_of_one_size_listing_twenty_confusions(int n)
    {
        // Three confusions per class: at least 20, so the left table fills its 20 rows.
        var (classes, counts) = Matrix(n, right: 5, wrong: 3);
        using var plot = Decode(Plots.Confusion(classes, counts));
        // 30 + 766 (#, true, predicted, images, share) + 40 + 420 (class, accuracy, images) + 30 wide;
        // 100 + 22 × (header + 20 rows) + 30 high.
        Assert.Equal((1286, 592), (plot.Width, plot.Height));
        Assert.Equal(Plots.ConfusionTablesSize, (plot.Width, plot.Height));
        Assert.True(Inked(plot, 10, 60) > 100, "the title band is blank");
        // The 20th row (from y 100 + 22 × 20) is drawn; nothing is below it.
        Assert.True(Inked(plot, 540, 562, 30, 796) > 100, "the 20th confusion is not drawn");
        Assert.Equal(0, Inked(plot, 562, 592));
    }

    [Fact]
    public void A_perfect_thousand_class_matrix_says_there_is_no_confusion()
    {
        var (classes, counts) = Matrix(1000);
        using var plot = Decode(Plots.Confusion(classes, counts));
        Assert.Equal(Plots.ConfusionTablesSize, (plot.Width, plot.Height));
        // The header and the one note row of the left table; no second row.
        Assert.True(Inked(plot, 122, 144, 30, 796) > 100, "the note is not drawn");
        Assert.Equal(0, Inked(plot, 144, 166, 30, 796));
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
