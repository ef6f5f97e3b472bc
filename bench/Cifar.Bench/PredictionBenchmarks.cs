using System.Diagnostics;
using Cifar.MLNet;
using Cifar.MLNet.Data;
using Cifar.MLNet.Prediction;
using Microsoft.ML;

namespace Cifar.Bench;

/// <summary>Prediction through a saved model.zip: what a host app that never saw libtorch gets.</summary>
internal static class PredictionBenchmarks
{
    /// <summary>
    /// <c>predict MODEL DATA [LIMIT]</c>: batch prediction of the test split (JPEG files in, labels
    /// out) through the zip's ML.NET pipeline (ImageAnalytics, ONNX Runtime). Times the scoring pass,
    /// not the model load. Prints <c>images/s N</c>.
    /// </summary>
    public static int Batch(string modelPath, string dataRoot, int limit)
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Model.Load(modelPath, out _);
        var data = CifarDataLoader.Load(ml, dataRoot, CifarSplit.Test, limit);
        var clock = Stopwatch.StartNew();
        var scored = model.Transform(data);
        long count = 0;
        using (var cursor = scored.GetRowCursor(new[] { scored.Schema[CifarColumns.PredictedLabel] }))
        {
            var getLabel = cursor.GetGetter<ReadOnlyMemory<char>>(scored.Schema[CifarColumns.PredictedLabel]);
            ReadOnlyMemory<char> label = default;
            while (cursor.MoveNext())
            {
                getLabel(ref label);
                count++;
            }
        }
        Console.WriteLine($"images/s {count / clock.Elapsed.TotalSeconds:F1}");
        return 0;
    }

    /// <summary>
    /// <c>latency MODEL DATA [COUNT]</c>: one <c>PredictionEngine</c>, one image file path in, one label out,
    /// COUNT times (default 2,000) over distinct test images after 200 warm-up calls. Prints
    /// <c>p50 MS</c>, <c>p99 MS</c>, <c>mean MS</c>.
    /// </summary>
    public static int Latency(string modelPath, string dataRoot, int count)
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Model.Load(modelPath, out _);
        using var engine = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(model);
        var paths = Directory.EnumerateFiles(Path.Combine(dataRoot, "test"), "*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal).Take(count + 200).ToArray();
        var prediction = new ImagePrediction();
        foreach (var path in paths.Take(200)) engine.Predict(new ImageInput { ImagePath = path }, ref prediction);
        var milliseconds = new List<double>();
        foreach (var path in paths.Skip(200))
        {
            long start = Stopwatch.GetTimestamp();
            engine.Predict(new ImageInput { ImagePath = path }, ref prediction);
            milliseconds.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        milliseconds.Sort();
        Console.WriteLine($"p50 {Percentile(milliseconds, 0.50):F3}");
        Console.WriteLine($"p99 {Percentile(milliseconds, 0.99):F3}");
        Console.WriteLine($"mean {milliseconds.Average():F3}");
        return 0;
    }

    private static double Percentile(List<double> sorted, double q) => sorted[(int)Math.Min(sorted.Count - 1, Math.Floor(q * sorted.Count))];
}
