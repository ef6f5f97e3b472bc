using System.Text.Json;
using Cifar.Host.Artifacts;
using Cifar.MLNet;

namespace Cifar.Host.Tests;

/// <summary>The largest confusions and worst classes, worked out by hand on a small matrix, and where they are written.</summary>
public class ConfusionSummaryTests
{
    internal static readonly string[] Classes = ["cat", "dog", "bird", "fish", "newt"];

    // Rows: true class; columns: predicted. Row totals 10, 10, 4, 4, 0: newt has no image.
    internal static IReadOnlyList<IReadOnlyList<double>> Counts() =>
    [
        [5, 2, 0, 3, 0],
        [3, 5, 1, 1, 0],
        [0, 0, 4, 0, 0],
        [0, 3, 1, 0, 0],
        [0, 0, 0, 0, 0],
    ];

    [Fact]
    public void The_largest_confusions_go_by_count_then_true_class_then_predicted_class_with_their_share_of_the_true_class()
    {
        Assert.Equal(new ClassConfusion[]
        {
            new(0, 3, 3, 0.3), new(1, 0, 3, 0.3), new(3, 1, 3, 0.75), // the three 3s, by true class
            new(0, 1, 2, 0.2),
            new(1, 2, 1, 0.1), new(1, 3, 1, 0.1), new(3, 2, 1, 0.25), // the 1s, by true class then predicted
        }, ConfusionSummary.Largest(Counts()));
        Assert.Equal(new ClassConfusion[] { new(0, 3, 3, 0.3), new(1, 0, 3, 0.3) }, ConfusionSummary.Largest(Counts(), 2));
    }

    [Fact]
    public void A_perfect_matrix_has_no_confusions()
    {
        Assert.Empty(ConfusionSummary.Largest([[3, 0], [0, 2]]));
    }

    [Fact]
    public void Classes_rank_worst_first_ties_by_class_and_one_without_images_has_no_accuracy_and_no_rank()
    {
        Assert.Equal(new ClassResult[] { new(0, 10, 0.5), new(1, 10, 0.5), new(2, 4, 1.0), new(3, 4, 0.0), new(4, 0, null) },
            ConfusionSummary.PerClass(Counts()));
        Assert.Equal(new ClassResult[] { new(3, 4, 0.0), new(0, 10, 0.5), new(1, 10, 0.5), new(2, 4, 1.0) }, ConfusionSummary.Worst(Counts()));
        Assert.Equal(new ClassResult[] { new(3, 4, 0.0), new(0, 10, 0.5) }, ConfusionSummary.Worst(Counts(), 2));
    }

    [Fact]
    public void The_console_lists_the_worst_classes_and_largest_confusions_in_aligned_columns()
    {
        Assert.Equal("""
            worst 4 of 5 classes:
              class  accuracy  images
              fish      0.0 %       4
              cat      50.0 %      10
              dog      50.0 %      10
              bird    100.0 %       4

            """.ReplaceLineEndings("\n"), EvaluationReport.WorstClasses(Classes, Counts()));
        Assert.Equal("""
            largest 3 confusions (images of a class predicted as another):
              true class  predicted as  images   share
              cat         fish               3  30.0 %
              dog         cat                3  30.0 %
              fish        dog                3  75.0 %

            """.ReplaceLineEndings("\n"), EvaluationReport.LargestConfusions(Classes, Counts(), 3));
        Assert.Equal("largest confusions: none, every image was classified right\n",
            EvaluationReport.LargestConfusions(["a", "b"], [[1, 0], [0, 1]], 3));
    }

    [Fact]
    public void Evaluation_json_keeps_every_class_and_the_largest_confusions()
    {
        var evaluation = new Evaluation(0.5, 0.5, 1.0, [0.5, 0.5, 1.0, 0.0, 0.0], Counts());
        var json = MetricsFiles.EvaluationJson(Classes, evaluation, Cifar.TestTimeAugmentation.None,
            new TrainingSetup("cpu", Cifar.TrainingPrecision.Float32, "", 1), TimeSpan.FromSeconds(1));

        using var doc = JsonDocument.Parse(json);
        var perClass = doc.RootElement.GetProperty("per_class").EnumerateArray()
            .Select(c => (c.GetProperty("class").GetString(), c.GetProperty("images").GetInt64(),
                c.GetProperty("accuracy").ValueKind == JsonValueKind.Null ? (double?)null : c.GetProperty("accuracy").GetDouble()));
        Assert.Equal(new (string?, long, double?)[] { ("cat", 10, 0.5), ("dog", 10, 0.5), ("bird", 4, 1.0), ("fish", 4, 0.0), ("newt", 0, null) }, perClass);
        var largest = doc.RootElement.GetProperty("largest_confusions").EnumerateArray()
            .Select(c => (c.GetProperty("true_class").GetString(), c.GetProperty("predicted_class").GetString(),
                c.GetProperty("count").GetInt64(), c.GetProperty("share_of_true_class").GetDouble()));
        Assert.Equal(new (string?, string?, long, double)[]
        {
            ("cat", "fish", 3, 0.3), ("dog", "cat", 3, 0.3), ("fish", "dog", 3, 0.75), ("cat", "dog", 2, 0.2),
            ("dog", "bird", 1, 0.1), ("dog", "fish", 1, 0.1), ("fish", "bird", 1, 0.25),
        }, largest);
    }
}
