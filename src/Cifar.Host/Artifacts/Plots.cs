using System.Globalization;
using SkiaSharp;

namespace Cifar.Host.Artifacts;

/// <summary>
/// The tutorial's two curves (loss and accuracy, train vs validation per epoch) and a confusion
/// plot (the matrix, or for many classes its largest confusions and worst classes), drawn as PNG with SkiaSharp.
/// </summary>
internal static class Plots
{
    private static readonly SKColor TrainColor = new(31, 119, 180), ValidationColor = new(255, 127, 14);

    public static byte[] Loss(IReadOnlyList<EpochMetrics> history) =>
        Curves("Loss", "cross-entropy", history, m => m.TrainLoss, m => m.ValidationLoss);

    public static byte[] Accuracy(IReadOnlyList<EpochMetrics> history) =>
        Curves("Accuracy", "accuracy", history, m => m.TrainAccuracy, m => m.ValidationAccuracy);

    private static byte[] Curves(string title, string yLabel, IReadOnlyList<EpochMetrics> history,
        Func<EpochMetrics, double> train, Func<EpochMetrics, double?> validation)
    {
        var series = new List<Series> { new("train", TrainColor, history.Select(m => (double?)train(m)).ToArray()) };
        // Epochs that were not validated (Training:ValidationInterval) leave gaps that the line crosses.
        if (history.Any(m => validation(m) is not null))
            series.Add(new("validation", ValidationColor, history.Select(validation).ToArray()));
        var all = series.SelectMany(s => s.Values).OfType<double>().DefaultIfEmpty(0).ToArray();
        var frame = new CurveFrame(Math.Max(history.Count, 1), NiceRange(all.Min(), all.Max()));

        using var surface = WhiteSurface(CurveFrame.Width, CurveFrame.Height);
        var canvas = surface.Canvas;
        using var font = Font(14);
        using var text = new SKPaint { IsAntialias = true, Color = SKColors.Black };
        DrawGrid(canvas, frame, font, text);
        foreach (var one in series) DrawSeries(canvas, frame, one);
        DrawCurveLabels(canvas, title, yLabel, font, text);
        DrawLegend(canvas, series, font, text);
        return Encode(surface);
    }

    /// <summary>One curve: its name in the legend, its colour and a value per epoch (null: none that epoch).</summary>
    private sealed record Series(string Name, SKColor Color, double?[] Values);

    /// <summary>The curves' figure: its size, the plot area inside the margins, and where an epoch and a value lie in it.</summary>
    private readonly record struct CurveFrame(int Epochs, (double Min, double Max, double Step) Range)
    {
        public const int Width = 800, Height = 500, Left = 80, Right = 30, Top = 50, Bottom = 60;
        public const float PlotWidth = Width - Left - Right, PlotHeight = Height - Top - Bottom;

        public float X(double epoch) => Left + (float)(Epochs == 1 ? PlotWidth / 2 : (epoch - 1) / (Epochs - 1) * PlotWidth);
        public float Y(double value) => Top + (float)((Range.Max - value) / (Range.Max - Range.Min) * PlotHeight);
    }

    /// <summary>The value lines with their labels, a line every few epochs with its number, and the plot area's frame.</summary>
    private static void DrawGrid(SKCanvas canvas, CurveFrame frame, SKFont font, SKPaint text)
    {
        using var grid = new SKPaint { Color = new SKColor(225, 225, 225), StrokeWidth = 1 };
        using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1.5f, IsStroke = true };
        var (yMin, yMax, yStep) = frame.Range;
        for (double v = yMin; v <= yMax + yStep / 2; v += yStep)
        {
            canvas.DrawLine(CurveFrame.Left, frame.Y(v), CurveFrame.Width - CurveFrame.Right, frame.Y(v), grid);
            DrawText(canvas, v.ToString(yStep < 0.1 ? "0.00" : "0.0", CultureInfo.InvariantCulture), CurveFrame.Left - 8, frame.Y(v) + 5, font, text, SKTextAlign.Right);
        }
        int tickEvery = Math.Max(1, (int)Math.Ceiling(frame.Epochs / 15.0));
        for (int e = 1; e <= frame.Epochs; e += tickEvery)
        {
            canvas.DrawLine(frame.X(e), CurveFrame.Top, frame.X(e), CurveFrame.Top + CurveFrame.PlotHeight, grid);
            DrawText(canvas, e.ToString(CultureInfo.InvariantCulture), frame.X(e), CurveFrame.Top + CurveFrame.PlotHeight + 20, font, text, SKTextAlign.Center);
        }
        canvas.DrawRect(CurveFrame.Left, CurveFrame.Top, CurveFrame.PlotWidth, CurveFrame.PlotHeight, axis);
    }

    /// <summary>A curve: a dot on each epoch that has a value, and lines from each such epoch to the next.</summary>
    private static void DrawSeries(SKCanvas canvas, CurveFrame frame, Series series)
    {
        using var line = new SKPaint { Color = series.Color, StrokeWidth = 2.5f, IsStroke = true, IsAntialias = true };
        using var dot = new SKPaint { Color = series.Color, IsAntialias = true };
        var points = series.Values.Select((value, i) => (Epoch: i + 1, Value: value))
            .Where(p => p.Value is not null).Select(p => new SKPoint(frame.X(p.Epoch), frame.Y(p.Value!.Value))).ToArray();
        for (int i = 1; i < points.Length; i++) canvas.DrawLine(points[i - 1], points[i], line);
        foreach (var point in points) canvas.DrawCircle(point, 4, dot);
    }

    /// <summary>The title above the plot, "epoch" below it and the value's name up its left side.</summary>
    private static void DrawCurveLabels(SKCanvas canvas, string title, string yLabel, SKFont font, SKPaint text)
    {
        using var titleFont = Font(18, bold: true);
        DrawText(canvas, title, CurveFrame.Width / 2f, 30, titleFont, text, SKTextAlign.Center);
        DrawText(canvas, "epoch", CurveFrame.Left + CurveFrame.PlotWidth / 2, CurveFrame.Height - 15, font, text, SKTextAlign.Center);
        float middle = CurveFrame.Top + CurveFrame.PlotHeight / 2;
        canvas.Save();
        canvas.RotateDegrees(-90, 20, middle);
        DrawText(canvas, yLabel, 20, middle + 5, font, text, SKTextAlign.Center);
        canvas.Restore();
    }

    /// <summary>Each curve's colour and name, top right.</summary>
    private static void DrawLegend(SKCanvas canvas, IReadOnlyList<Series> series, SKFont font, SKPaint text)
    {
        for (int i = 0; i < series.Count; i++)
        {
            float ly = CurveFrame.Top + 20 + i * 22, lx = CurveFrame.Width - CurveFrame.Right - 130;
            using var swatch = new SKPaint { Color = series[i].Color, StrokeWidth = 3, IsAntialias = true };
            canvas.DrawLine(lx, ly - 5, lx + 25, ly - 5, swatch);
            DrawText(canvas, series[i].Name, lx + 32, ly, font, text, SKTextAlign.Left);
        }
    }

    /// <summary>
    /// Up to this many classes the confusion plot is the whole matrix, every cell 64 pixels with its count and every class named;
    /// beyond, cells would shrink below what a count or a name needs, so the plot becomes tables of the largest confusions and
    /// the worst classes instead (confusion.txt keeps the whole matrix).
    /// </summary>
    public const int FullMatrixLimit = 40;

    /// <summary>
    /// The confusion plot of <paramref name="counts"/> [true][predicted]: the matrix up to <see cref="FullMatrixLimit"/> classes,
    /// the tables of <see cref="ConfusionSummary"/> beyond; either way an image of bounded size.
    /// </summary>
    public static byte[] Confusion(IReadOnlyList<string> classes, IReadOnlyList<IReadOnlyList<double>> counts) =>
        classes.Count <= FullMatrixLimit ? Matrix(classes, counts) : ConfusionTables(classes, counts);

    // A matrix cell's side in pixels, and the most a class name beside or below the matrix gets.
    private const int MatrixCell = 64, MatrixLabelWidth = 114;

    private static byte[] Matrix(IReadOnlyList<string> classes, IReadOnlyList<IReadOnlyList<double>> counts)
    {
        int n = classes.Count;
        const int left = 130, top = 70, bottom = 120, cell = MatrixCell;
        int width = left + n * cell + 30, height = top + n * cell + bottom;
        using var surface = WhiteSurface(width, height);
        var canvas = surface.Canvas;
        using var font = Font(13);
        using var titleFont = Font(16, bold: true);
        using var text = new SKPaint { IsAntialias = true, Color = SKColors.Black };
        for (int i = 0; i < n; i++)
        {
            double total = counts[i].Sum();
            for (int j = 0; j < n; j++)
            {
                double share = total > 0 ? counts[i][j] / total : 0;
                using var fill = new SKPaint { Color = Blend(share) };
                canvas.DrawRect(left + j * cell, top + i * cell, cell, cell, fill);
                using var label = new SKPaint { IsAntialias = true, Color = share > 0.5 ? SKColors.White : SKColors.Black };
                DrawText(canvas, ((long)counts[i][j]).ToString(CultureInfo.InvariantCulture), left + j * cell + cell / 2f, top + i * cell + cell / 2f + 5, font, label, SKTextAlign.Center);
            }
            // Long names are cut to the margin, so none runs into the image's edge or its neighbour.
            var name = Ellipsized(classes[i], font, MatrixLabelWidth);
            DrawText(canvas, name, left - 8, top + i * cell + cell / 2f + 5, font, text, SKTextAlign.Right);
            canvas.Save();
            canvas.RotateDegrees(-45, left + i * cell + cell / 2f, top + n * cell + 12);
            DrawText(canvas, name, left + i * cell + cell / 2f, top + n * cell + 12, font, text, SKTextAlign.Right);
            canvas.Restore();
        }
        DrawText(canvas, "Confusion matrix: rows true class, columns predicted", width / 2f, 30, titleFont, text, SKTextAlign.Center);
        DrawText(canvas, "colour: share of the row", width / 2f, 52, font, text, SKTextAlign.Center);
        return Encode(surface);
    }

    /// <summary>A column of a table drawn by <see cref="DrawTable"/>: numbers align right.</summary>
    private sealed record Column(string Header, float Width, bool AlignRight = false);

    private static readonly Column[] ConfusionColumns =
        [new("#", 36, AlignRight: true), new("true class", 250), new("predicted as", 250), new("images", 80, AlignRight: true), new("share of true class", 150, AlignRight: true)];

    private static readonly Column[] WorstColumns =
        [new("class", 250), new("accuracy", 90, AlignRight: true), new("images", 80, AlignRight: true)];

    private const int TableRow = 22, TableGap = 40, TableMargin = 30, TablesTop = 100;

    /// <summary>The tables figure's size, the same for any class count: the two tables side by side, as high as the longer one.</summary>
    public static readonly (int Width, int Height) ConfusionTablesSize = (
        TableMargin * 2 + TableGap + (int)(ConfusionColumns.Sum(c => c.Width) + WorstColumns.Sum(c => c.Width)),
        TablesTop + TableRow * (1 + Math.Max(ConfusionSummary.LargestListed, ConfusionSummary.WorstListed)) + TableMargin);

    private static byte[] ConfusionTables(IReadOnlyList<string> classes, IReadOnlyList<IReadOnlyList<double>> counts)
    {
        var (width, height) = ConfusionTablesSize;
        using var surface = WhiteSurface(width, height);
        var canvas = surface.Canvas;
        using var font = Font(13);
        using var titleFont = Font(16, bold: true);
        using var text = new SKPaint { IsAntialias = true, Color = SKColors.Black };
        long images = (long)counts.Sum(row => row.Sum());
        DrawText(canvas, string.Create(CultureInfo.InvariantCulture, $"Confusions of {classes.Count} classes, {images} images"), width / 2f, 30, titleFont, text, SKTextAlign.Center);
        DrawText(canvas, "too many classes for a readable matrix: the largest confusions and the worst classes (the whole matrix is in confusion.txt)",
            width / 2f, 52, font, text, SKTextAlign.Center);

        var largest = ConfusionSummary.Largest(counts)
            .Select((c, rank) => ConfusionSummary.Cells(c, classes).Prepend((rank + 1).ToString(CultureInfo.InvariantCulture)).ToArray()).ToArray();
        DrawTable(canvas, TableMargin, TablesTop, largest.Length > 0 ? $"largest {largest.Length} confusions" : "largest confusions", ConfusionColumns,
            largest.Length > 0 ? largest : [["", "none: every image was classified right"]], font, titleFont, text);

        var worst = ConfusionSummary.Worst(counts).Select(c => ConfusionSummary.Cells(c, classes)).ToArray();
        DrawTable(canvas, TableMargin + TableGap + ConfusionColumns.Sum(c => c.Width), TablesTop, $"worst {worst.Length} of {classes.Count} classes",
            WorstColumns, worst, font, titleFont, text);
        return Encode(surface);
    }

    /// <summary>A titled table: a header row, then one shaded-by-turns row per entry, every cell cut to its column.</summary>
    private static void DrawTable(SKCanvas canvas, float x, float y, string title, Column[] columns, IReadOnlyList<string[]> rows,
        SKFont font, SKFont titleFont, SKPaint text)
    {
        const float pad = 6;
        float tableWidth = columns.Sum(c => c.Width);
        DrawText(canvas, title, x, y - 8, titleFont, text, SKTextAlign.Left);
        using var headerFill = new SKPaint { Color = new SKColor(225, 230, 240) };
        using var stripe = new SKPaint { Color = new SKColor(245, 246, 250) };
        using var headerFont = Font(font.Size, bold: true);
        canvas.DrawRect(x, y, tableWidth, TableRow, headerFill);
        DrawRow(columns.Select(c => c.Header).ToArray(), y, headerFont);
        for (int r = 0; r < rows.Count; r++)
        {
            float rowTop = y + TableRow * (r + 1);
            if (r % 2 == 1) canvas.DrawRect(x, rowTop, tableWidth, TableRow, stripe);
            DrawRow(rows[r], rowTop, font);
        }

        void DrawRow(string[] cells, float rowTop, SKFont rowFont)
        {
            float left = x;
            // A row may have fewer cells than columns (a one-line note); its last cell then spans the rest.
            for (int c = 0; c < cells.Length; c++)
            {
                var column = columns[c];
                float cellWidth = c == cells.Length - 1 ? tableWidth - (left - x) : column.Width;
                var value = Ellipsized(cells[c], rowFont, cellWidth - 2 * pad);
                if (column.AlignRight) DrawText(canvas, value, left + column.Width - pad, rowTop + TableRow - 6, rowFont, text, SKTextAlign.Right);
                else DrawText(canvas, value, left + pad, rowTop + TableRow - 6, rowFont, text, SKTextAlign.Left);
                left += column.Width;
            }
        }
    }

    /// <summary><paramref name="value"/>, or its longest start that fits <paramref name="maxWidth"/> pixels with "…" after it.</summary>
    private static string Ellipsized(string value, SKFont font, float maxWidth)
    {
        if (Width(value, font) <= maxWidth) return value;
        // Text elements, not chars: a cut never splits a surrogate pair or a letter from its accent.
        var elements = StringInfo.GetTextElementEnumerator(value);
        var starts = new List<int>();
        while (elements.MoveNext()) starts.Add(elements.ElementIndex);
        for (int keep = starts.Count - 1; keep > 0; keep--)
            if (value[..starts[keep]].TrimEnd() + "…" is var cut && Width(cut, font) <= maxWidth) return cut;
        return "…";
    }

    private static float Width(string value, SKFont font)
    {
        using var measure = new SKPaint { Typeface = font.Typeface, TextSize = font.Size, FakeBoldText = font.Embolden };
        return measure.MeasureText(value);
    }

    private static SKColor Blend(double share)
    {
        // White to dark blue.
        byte Mix(byte from, byte to) => (byte)(from + (to - from) * Math.Clamp(share, 0, 1));
        return new SKColor(Mix(255, 8), Mix(255, 48), Mix(255, 107));
    }

    private static (double Min, double Max, double Step) NiceRange(double min, double max)
    {
        if (max - min < 1e-9) (min, max) = (min - 0.5, max + 0.5);
        double raw = (max - min) / 6;
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 2.5, 5, 10 }.Select(f => f * magnitude).First(s => s >= raw);
        return (Math.Floor(min / step) * step, Math.Ceiling(max / step) * step, step);
    }

    // DejaVu Sans where it is installed (scripts/install-prerequisites.sh adds it on Debian); the
    // default typeface otherwise. SkiaSharp's NoDependencies native build has no fontconfig.
    // Loaded once and shared by every plot (a typeface is immutable, so threads may share it) for
    // the life of the process, instead of one undisposed native typeface per font.
    private static readonly SKTypeface Typeface = new[]
    {
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    }.Where(File.Exists).Select(path => SKTypeface.FromFile(path)).FirstOrDefault(t => t is not null) ?? SKTypeface.Default;

    private static SKFont Font(float size, bool bold = false) => new(Typeface, size) { Embolden = bold };

    private static void DrawText(SKCanvas canvas, string value, float x, float y, SKFont font, SKPaint paint, SKTextAlign align)
    {
        using var blob = SKTextBlob.Create(value, font);
        if (blob is null) return;
        float w = Width(value, font);
        float dx = align switch { SKTextAlign.Center => -w / 2, SKTextAlign.Right => -w, _ => 0 };
        canvas.DrawText(blob, x + dx, y, paint);
    }

    private static byte[] Encode(SKSurface surface)
    {
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>A blank white picture of <paramref name="width"/> × <paramref name="height"/> to draw a plot on.</summary>
    private static SKSurface WhiteSurface(int width, int height)
    {
        var surface = SKSurface.Create(new SKImageInfo(width, height));
        surface.Canvas.Clear(SKColors.White);
        return surface;
    }
}
