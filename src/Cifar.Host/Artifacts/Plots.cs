using System.Globalization;
using SkiaSharp;

namespace Cifar.Host.Artifacts;

/// <summary>
/// The tutorial's two curves (loss and accuracy, train vs validation per epoch) and a confusion
/// matrix, drawn as PNG with SkiaSharp.
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
        const int width = 800, height = 500, left = 80, right = 30, top = 50, bottom = 60;
        var series = new List<(string Name, SKColor Color, double[] Values)> { ("train", TrainColor, history.Select(train).ToArray()) };
        if (history.Count > 0 && history.All(m => validation(m) is not null))
            series.Add(("validation", ValidationColor, history.Select(m => validation(m)!.Value).ToArray()));
        var all = series.SelectMany(s => s.Values).DefaultIfEmpty(0).ToArray();
        var (yMin, yMax, yStep) = NiceRange(all.Min(), all.Max());
        int epochs = Math.Max(history.Count, 1);

        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = Font(14);
        using var titleFont = Font(18, bold: true);
        using var text = new SKPaint { IsAntialias = true, Color = SKColors.Black };
        using var grid = new SKPaint { Color = new SKColor(225, 225, 225), StrokeWidth = 1 };
        using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1.5f, IsStroke = true };
        float plotW = width - left - right, plotH = height - top - bottom;
        float X(double epoch) => left + (float)(epochs == 1 ? plotW / 2 : (epoch - 1) / (epochs - 1) * plotW);
        float Y(double v) => top + (float)((yMax - v) / (yMax - yMin) * plotH);

        for (double v = yMin; v <= yMax + yStep / 2; v += yStep)
        {
            canvas.DrawLine(left, Y(v), width - right, Y(v), grid);
            DrawText(canvas, v.ToString(yStep < 0.1 ? "0.00" : "0.0", CultureInfo.InvariantCulture), left - 8, Y(v) + 5, font, text, SKTextAlign.Right);
        }
        int tickEvery = Math.Max(1, (int)Math.Ceiling(epochs / 15.0));
        for (int e = 1; e <= epochs; e += tickEvery)
        {
            canvas.DrawLine(X(e), top, X(e), top + plotH, grid);
            DrawText(canvas, e.ToString(CultureInfo.InvariantCulture), X(e), top + plotH + 20, font, text, SKTextAlign.Center);
        }
        canvas.DrawRect(left, top, plotW, plotH, axis);
        foreach (var (_, color, values) in series)
        {
            using var line = new SKPaint { Color = color, StrokeWidth = 2.5f, IsStroke = true, IsAntialias = true };
            using var dot = new SKPaint { Color = color, IsAntialias = true };
            for (int i = 1; i < values.Length; i++) canvas.DrawLine(X(i), Y(values[i - 1]), X(i + 1), Y(values[i]), line);
            for (int i = 0; i < values.Length; i++) canvas.DrawCircle(X(i + 1), Y(values[i]), 4, dot);
        }
        DrawText(canvas, title, width / 2f, 30, titleFont, text, SKTextAlign.Center);
        DrawText(canvas, "epoch", left + plotW / 2, height - 15, font, text, SKTextAlign.Center);
        canvas.Save();
        canvas.RotateDegrees(-90, 20, top + plotH / 2);
        DrawText(canvas, yLabel, 20, top + plotH / 2 + 5, font, text, SKTextAlign.Center);
        canvas.Restore();
        for (int i = 0; i < series.Count; i++)
        {
            float ly = top + 20 + i * 22, lx = width - right - 130;
            using var swatch = new SKPaint { Color = series[i].Color, StrokeWidth = 3, IsAntialias = true };
            canvas.DrawLine(lx, ly - 5, lx + 25, ly - 5, swatch);
            DrawText(canvas, series[i].Name, lx + 32, ly, font, text, SKTextAlign.Left);
        }
        return Encode(surface);
    }

    /// <summary>The confusion matrix's side at most, in pixels: cells shrink beyond 40 classes (1,000 classes get 2-pixel cells).</summary>
    public const int ConfusionMatrixPixels = 2560;

    public static byte[] Confusion(IReadOnlyList<string> classes, IReadOnlyList<IReadOnlyList<double>> counts)
    {
        int n = classes.Count;
        const int left = 130, top = 70, bottom = 120;
        int cell = Math.Clamp(ConfusionMatrixPixels / n, 1, 64);
        // Text is drawn only where it fits its cell: counts from 32 pixels, class names from 14.
        bool showCounts = cell >= 32, showNames = cell >= 14;
        int width = left + n * cell + 30, height = top + n * cell + bottom;
        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
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
                if (!showCounts) continue;
                using var label = new SKPaint { IsAntialias = true, Color = share > 0.5 ? SKColors.White : SKColors.Black };
                DrawText(canvas, ((long)counts[i][j]).ToString(CultureInfo.InvariantCulture), left + j * cell + cell / 2f, top + i * cell + cell / 2f + 5, font, label, SKTextAlign.Center);
            }
            if (!showNames) continue;
            DrawText(canvas, classes[i], left - 8, top + i * cell + cell / 2f + 5, font, text, SKTextAlign.Right);
            canvas.Save();
            canvas.RotateDegrees(-45, left + i * cell + cell / 2f, top + n * cell + 12);
            DrawText(canvas, classes[i], left + i * cell + cell / 2f, top + n * cell + 12, font, text, SKTextAlign.Right);
            canvas.Restore();
        }
        DrawText(canvas, "Confusion matrix: rows true class, columns predicted", width / 2f, 30, titleFont, text, SKTextAlign.Center);
        DrawText(canvas, "colour: share of the row", width / 2f, 52, font, text, SKTextAlign.Center);
        return Encode(surface);
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
        using var measure = new SKPaint { Typeface = font.Typeface, TextSize = font.Size, FakeBoldText = font.Embolden };
        float w = measure.MeasureText(value);
        float dx = align switch { SKTextAlign.Center => -w / 2, SKTextAlign.Right => -w, _ => 0 };
        canvas.DrawText(blob, x + dx, y, paint);
    }

    private static byte[] Encode(SKSurface surface)
    {
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
