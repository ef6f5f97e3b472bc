using System.Text.Json;
using Cifar.MLNet.Prediction;
using Cifar.Tests;

namespace Cifar.Host.Tests;

/// <summary><c>cifar train</c> on a folder of class folders of its own: the split, what it says of the data, the refusals.</summary>
public class ImageFolderTrainTests
{

    /// <summary>Class folders of 32×32 BMPs, each class its own colour.</summary>
    private static void ClassFolders(string root, params (string Class, int Images)[] classes)
    {
        for (int c = 0; c < classes.Length; c++)
        {
            var folder = Path.Combine(root, classes[c].Class);
            Directory.CreateDirectory(folder);
            for (int i = 0; i < classes[c].Images; i++)
                TestImages.WriteBmp(Path.Combine(folder, $"{i}.bmp"), 32, 32, (x, y) => ((byte)(c * 60), (byte)(x * 8), (byte)(i * 10)));
        }
    }

    private static string Error(HostRun.Result result)
    {
        Assert.Equal(2, result.ExitCode);
        return HostRun.OneLineError(result);
    }

    [Fact]
    public void Trains_on_one_folder_split_per_class_and_reports_unbalanced_and_missing_classes()
    {
        using var dir = new TestData.TempFolder();
        var root = dir.File("my images");
        ClassFolders(root, ("big cat", 12), ("dög", 6), ("7", 3), ("solo", 1));
        File.WriteAllText(Path.Combine(root, "big cat", "notes.txt"), "not an image");

        var result = HostRun.TrainOneEpoch(dir, root);

        Assert.True(result.ExitCode == 0, result.Errors);
        // round(0.2 × n), at least 1 of 2 or more: 12 → 2, 6 → 1, 3 → 1, 1 → 0.
        Assert.Contains($"data: {root} (one folder of class folders, split by Data:ValidationFraction 0.2 and Data:SplitSeed 1) — "
            + "18 training, 4 validation images, 4 classes; ignored 1 file that is not an image\n", result.Output);
        const string table = """
            images per class (training / validation):
              7         2 / 1
              big cat  10 / 2
              dög       5 / 1
              solo      1 / 0
            """;
        Assert.Contains($"unbalanced classes; {table}\n", result.Output.ReplaceLineEndings("\n"));
        Assert.Contains("warning: no validation images for 1 class: solo\n", result.Output);
        Assert.Contains("Epoch 1/1: train loss", result.Output);
        var log = File.ReadAllText(Path.Combine(dir.File("run"), "train.log"));
        Assert.Contains(table, log.ReplaceLineEndings("\n"));
        using var model = CifarModel.Load(Path.Combine(dir.File("run"), "model.zip"));
        Assert.Equal(new[] { "7", "big cat", "dög", "solo" }, model.ClassNames);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("run"), "config.json")));
        Assert.Equal(JsonValueKind.Null, config.RootElement.GetProperty("Data").GetProperty("ValidationFraction").ValueKind);
        Assert.Equal(1, config.RootElement.GetProperty("Data").GetProperty("SplitSeed").GetInt32());

        // evaluate scores the held-out part of the same default split (4 images), or the rest with --split train.
        var evaluated = HostRun.Run("evaluate", "--model", Path.Combine(dir.File("run"), "model.zip"), "--data", root);
        Assert.True(evaluated.ExitCode == 0, evaluated.Errors);
        Assert.StartsWith($"{Path.Combine(dir.File("run"), "model.zip")} on {root} (test, 4 images)\n", evaluated.Output);
        var rest = HostRun.Run("evaluate", "--model", Path.Combine(dir.File("run"), "model.zip"), "--data", root, "--split", "train");
        Assert.Contains("(train, 18 images)", rest.Output);
    }

    [Fact]
    public void A_resume_with_another_split_of_the_folder_is_refused_naming_the_key()
    {
        using var dir = new TestData.TempFolder();
        var root = dir.File("images");
        ClassFolders(root, ("a", 5), ("b", 5));
        var first = HostRun.TrainOneEpoch(dir, root);
        Assert.True(first.ExitCode == 0, first.Errors);
        // Another seed gives the same counts (the checkpoint's settings match) but other validation images.
        var resumed = HostRun.Run("train", "--resume", "--output", dir.File("run"), "--Training:Epochs=2", "--Data:SplitSeed=2");
        Assert.Equal((2, $"error: {Path.Combine(dir.File("run"), "config.json")}: Data:SplitSeed was 1, now 2: a resumed run keeps its split"),
            (resumed.ExitCode, HostRun.OneLineError(resumed)));
        var same = HostRun.Run("train", "--resume", "--output", dir.File("run"), "--Training:Epochs=2");
        Assert.True(same.ExitCode == 0, same.Errors);
    }

    [Fact]
    public void Trains_on_a_hundred_and_twenty_classes_with_the_matrix_left_to_its_files()
    {
        using var dir = new TestData.TempFolder();
        var root = dir.File("many");
        ClassFolders(root, Enumerable.Range(0, 120).Select(i => ($"{i}", 2)).ToArray());

        var result = HostRun.TrainOneEpoch(dir, root, "--Data:ValidationFraction=0.5", "--Data:SplitSeed=3");

        Assert.True(result.ExitCode == 0, result.Errors);
        Assert.Contains($"data: {root} (one folder of class folders, split by Data:ValidationFraction 0.5 and Data:SplitSeed 3) — "
            + "120 training, 120 validation images, 120 classes\n", result.Output);
        Assert.DoesNotContain("unbalanced", result.Output);
        Assert.Contains($"confusion matrix: 120×120, in {Path.Combine(dir.File("run"), "confusion.txt")} and confusion.png\n", result.Output);
        Assert.Contains("images per class (training / validation):\n  0    1 / 1\n", File.ReadAllText(Path.Combine(dir.File("run"), "train.log")).ReplaceLineEndings("\n"));
        using var model = CifarModel.Load(Path.Combine(dir.File("run"), "model.zip"));
        Assert.Equal(Enumerable.Range(0, 120).Select(i => $"{i}").Order(StringComparer.Ordinal), model.ClassNames);
        // The console, the plot and evaluation.json give what stays readable: the worst classes and the largest confusions.
        Assert.Contains("worst 10 of 120 classes:\n  class  accuracy  images\n", result.Output);
        var evaluated = HostRun.Run("evaluate", "--model", Path.Combine(dir.File("run"), "model.zip"), "--data", root);
        Assert.True(evaluated.ExitCode == 0, evaluated.Errors);
        Assert.Contains("worst 10 of 120 classes:\n", evaluated.Output);
        Assert.Contains("largest 10 confusions", evaluated.Output);
        Assert.DoesNotContain("per-class accuracy", evaluated.Output);
        Assert.DoesNotContain("confusion matrix", evaluated.Output);
        Assert.True(evaluated.Output.Split('\n').Length < 40, evaluated.Output);
        using var plot = SkiaSharp.SKBitmap.Decode(Path.Combine(dir.File("run"), "confusion.png"));
        Assert.Equal(Cifar.Host.Artifacts.Plots.ConfusionTablesSize, (plot.Width, plot.Height));
        using var evaluation = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("run"), "evaluation.json")));
        var perClass = evaluation.RootElement.GetProperty("per_class").EnumerateArray().ToArray();
        Assert.Equal(model.ClassNames, perClass.Select(c => c.GetProperty("class").GetString()));
        Assert.All(perClass, c => Assert.Equal(1, c.GetProperty("images").GetInt64()));
        // 1 epoch leaves most of the 120 images wrong, each a confusion of 1: the list is full, and its shares are 1.
        var largest = evaluation.RootElement.GetProperty("largest_confusions").EnumerateArray().ToArray();
        Assert.Equal(20, largest.Length);
        Assert.All(largest, c => Assert.Equal((1, 1.0), (c.GetProperty("count").GetInt64(), c.GetProperty("share_of_true_class").GetDouble())));
        var right = perClass.Count(c => c.GetProperty("accuracy").GetDouble() == 1.0);
        Assert.Equal(evaluation.RootElement.GetProperty("accuracy").GetDouble(), right / 120.0, 12);
    }

    [Fact]
    public void A_validation_fraction_is_refused_where_the_test_split_validates()
    {
        using var dir = new TestData.TempFolder();
        var folders = dir.File("folders");
        foreach (var split in new[] { "train", "test" }) ClassFolders(Path.Combine(folders, split), ("a", 1), ("b", 1));
        Assert.Equal($"error: {folders}: Data:ValidationFraction splits a root of class folders, but this one has train/ and test/ (its test split validates); leave it out",
            Error(HostRun.TrainOneEpoch(dir, folders, "--Data:ValidationFraction=0.1")));
        TestImages.WriteBinaryBatches(dir.File("batches"), recordsPerBatch: 2);
        Assert.Equal($"error: {dir.File("batches")}: Data:ValidationFraction splits a root of class folders, but this one has the CIFAR-10 binary batches (their test batch validates); leave it out",
            Error(HostRun.TrainOneEpoch(dir, dir.File("batches"), "--Data:ValidationFraction=0.1")));
    }

    [Fact]
    public void Bad_fractions_one_class_and_an_empty_root_are_refused_in_one_line()
    {
        using var dir = new TestData.TempFolder();
        ClassFolders(dir.File("one"), ("cat", 3));
        Assert.Equal("error: command line: 'Data:ValidationFraction' must be greater than 0 and less than 1 (got 1)",
            Error(HostRun.TrainOneEpoch(dir, dir.File("one"), "--Data:ValidationFraction=1")));
        Assert.Equal($"error: {dir.File("one")}: has 1 class (cat); a classifier needs at least 2", Error(HostRun.TrainOneEpoch(dir, dir.File("one"))));
        Directory.CreateDirectory(dir.File("empty"));
        // A run's config.json records an unset fraction as null: read back (as --resume does), it is accepted.
        File.WriteAllText(dir.File("null.json"), """{ "Data": { "ValidationFraction": null } }""");
        Assert.Equal($"error: {dir.File("empty")}: no data (expected <root>/<class>/*, <root>/{{train,test}}/<class>/*, or the CIFAR-10 binary batches)",
            Error(HostRun.TrainOneEpoch(dir, dir.File("empty"), "--config", dir.File("null.json"))));
    }
}
