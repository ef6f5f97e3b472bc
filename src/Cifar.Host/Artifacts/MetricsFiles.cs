using System.Globalization;
using System.Text;
using System.Text.Json;
using Cifar.MLNet;

namespace Cifar.Host.Artifacts;

/// <summary>metrics.csv and metrics.json: one row per epoch, accuracies as fractions; evaluation.json: the final validation.</summary>
internal static class MetricsFiles
{
    public const string CsvHeader = "epoch,train_loss,train_acc,val_loss,val_acc,seconds";

    public static string ToCsv(IReadOnlyList<EpochMetrics> history)
    {
        var csv = new StringBuilder(CsvHeader).Append('\n');
        foreach (var m in history)
            csv.Append(string.Join(',', m.Epoch.ToString(CultureInfo.InvariantCulture), F(m.TrainLoss), F(m.TrainAccuracy),
                F(m.ValidationLoss), F(m.ValidationAccuracy), F(m.Seconds))).Append('\n');
        return csv.ToString();
    }

    public static string ToJson(IReadOnlyList<EpochMetrics> history, object details) =>
        JsonSerializer.Serialize(new
        {
            epochs = history.Select(m => new
            {
                epoch = m.Epoch, train_loss = m.TrainLoss, train_acc = m.TrainAccuracy,
                val_loss = m.ValidationLoss, val_acc = m.ValidationAccuracy, seconds = m.Seconds, train_seconds = m.TrainSeconds,
            }),
            run = details,
        }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>
    /// evaluation.json: the final validation (with the model's test-time views) and the seconds from loading the data to the
    /// saved model, with where and how it trained (device, resolved precision, libtorch threads), for scripts that compare runs;
    /// then every class's images and accuracy (null for a class without images) and the largest confusions, for any class count.
    /// </summary>
    public static string EvaluationJson(IReadOnlyList<string> classes, Evaluation evaluation, TestTimeAugmentation views, TrainingSetup setup, TimeSpan elapsed) =>
        JsonSerializer.Serialize(new
        {
            accuracy = evaluation.Accuracy, macro_accuracy = evaluation.MacroAccuracy, log_loss = evaluation.LogLoss,
            test_time_augmentation = views.ToString(), seconds_to_model = elapsed.TotalSeconds,
            device = setup.Device, precision = setup.Precision.ToString(), threads = setup.Threads, input_gradient = setup.InputGradient.ToString(),
            per_class = ConfusionSummary.PerClass(evaluation.Counts).Select(c => new { @class = classes[c.Class], images = c.Images, accuracy = c.Accuracy }),
            largest_confusions = ConfusionSummary.Largest(evaluation.Counts).Select(c => new
            {
                true_class = classes[c.TrueClass], predicted_class = classes[c.PredictedClass], count = c.Count, share_of_true_class = c.Share,
            }),
        }, new JsonSerializerOptions { WriteIndented = true });

    private static string F(double? value) => value?.ToString("R", CultureInfo.InvariantCulture) ?? "";
}
