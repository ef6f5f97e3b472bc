using Cifar.Tests;
using Microsoft.ML;

namespace Cifar.Host.Tests;

/// <summary>
/// The bad-input catalogue at the app's edge: each case exits 2 with one line naming the file or key
/// and what is wrong, and leaves no model behind. (Config values: ConfigTests; arguments:
/// CommandLineTests; binary batches: Cifar.MLNet.Tests.DataLoadingTests.)
/// </summary>
public class BadInputTests
{

    private static string UserError(TestData.TempFolder dir, HostRun.Result result)
    {
        Assert.Equal(2, result.ExitCode);
        Assert.False(File.Exists(Path.Combine(dir.File("run"), "model.zip")));
        return HostRun.OneLineError(result);
    }

    private static void ImageFolders(string root, params (string Split, string Class)[] folders)
    {
        foreach (var (split, cls) in folders)
        {
            Directory.CreateDirectory(Path.Combine(root, split, cls));
            for (int i = 0; i < 2; i++)
                TestImages.WriteBmp(Path.Combine(root, split, cls, $"{i}.bmp"), 32, 32, TestImages.Pattern);
        }
    }

    [Fact]
    public void A_missing_data_root_is_named()
    {
        using var dir = new TestData.TempFolder();
        Assert.Contains($"{dir.File("nowhere")}: data root not found", UserError(dir, HostRun.TrainOneEpoch(dir, dir.File("nowhere"))));
    }

    [Fact]
    public void An_empty_split_is_named()
    {
        using var dir = new TestData.TempFolder();
        Directory.CreateDirectory(Path.Combine(dir.File("data"), "train"));
        Assert.Contains("no class folders", UserError(dir, HostRun.TrainOneEpoch(dir, dir.File("data"))));
    }

    [Fact]
    public void A_class_folder_without_images_is_named()
    {
        using var dir = new TestData.TempFolder();
        ImageFolders(dir.File("data"), ("train", "cat"), ("test", "cat"));
        Directory.CreateDirectory(Path.Combine(dir.File("data"), "train", "dog"));
        Assert.Contains(Path.Combine("train", "dog") + ": class folder has no image files", UserError(dir, HostRun.TrainOneEpoch(dir, dir.File("data"))));
    }

    [Fact]
    public void Train_and_test_with_different_classes_are_refused()
    {
        using var dir = new TestData.TempFolder();
        ImageFolders(dir.File("data"), ("train", "cat"), ("train", "dog"), ("test", "cat"), ("test", "frog"));
        Assert.Contains("different classes (cat, dog / cat, frog)", UserError(dir, HostRun.TrainOneEpoch(dir, dir.File("data"))));
    }

    [Fact]
    public void An_undecodable_image_is_named_by_default_and_skipped_on_request()
    {
        using var dir = new TestData.TempFolder();
        ImageFolders(dir.File("data"), ("train", "cat"), ("train", "dog"), ("test", "cat"), ("test", "dog"));
        // (A truncated BMP still decodes, the missing rows black; a file that is not an image does not.)
        var bad = Path.Combine(dir.File("data"), "train", "dog", "broken.jpg");
        File.WriteAllText(bad, "this is not a JPEG");
        var error = UserError(dir, HostRun.TrainOneEpoch(dir, dir.File("data")));
        Assert.Contains($"{bad}: not an image that can be decoded (not a known image format)", error);
        Assert.Contains("Data:SkipBadImages=true", error);

        var skipped = HostRun.TrainOneEpoch(dir, dir.File("data"), "--Data:SkipBadImages=true");
        Assert.True(skipped.ExitCode == 0, skipped.Errors);
        Assert.Contains("4 training, 4 validation images, 2 classes", skipped.Output);
        Assert.Contains("skipped 1 images that cannot be decoded", skipped.Output);
    }

    [Fact]
    public void A_training_image_declaring_a_huge_canvas_is_refused_before_decoding_and_skipped_on_request()
    {
        using var dir = new TestData.TempFolder();
        ImageFolders(dir.File("data"), ("train", "cat"), ("train", "dog"), ("test", "cat"), ("test", "dog"));
        var huge = Path.Combine(dir.File("data"), "train", "cat", "huge.png");
        TestImages.WritePngDeclaring(huge, 100_000, 100_000);
        var error = UserError(dir, HostRun.TrainOneEpoch(dir, dir.File("data")));
        Assert.Contains($"{huge}: declares a 100000×100000 image, 10,000,000,000 pixels; images of more than 16,777,216 pixels (4096×4096) are refused before decoding", error);

        var skipped = HostRun.TrainOneEpoch(dir, dir.File("data"), "--Data:SkipBadImages=true");
        Assert.True(skipped.ExitCode == 0, skipped.Errors);
        Assert.Contains("skipped 1 images that cannot be decoded", skipped.Output);
    }

    [Fact]
    public void A_binary_batch_of_the_wrong_length_is_named()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 4);
        File.WriteAllBytes(Path.Combine(dir.File("data"), "data_batch_2.bin"), new byte[3073 * 2 + 7]);
        Assert.Contains("data_batch_2.bin: 6153 bytes is not a whole number of 3073-byte records", UserError(dir, HostRun.TrainOneEpoch(dir, dir.File("data"))));
    }

    [Fact]
    public void Cuda_without_a_gpu_is_a_user_error()
    {
        if (TorchSharp.torch.cuda.is_available()) Assert.Skip("a CUDA GPU is present: the error is for machines without one");
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 2);
        Assert.Contains("Training:Device: device 'cuda' was requested but libtorch sees no CUDA GPU",
            UserError(dir, HostRun.TrainOneEpoch(dir, dir.File("data"), "--Training:Device=cuda")));
    }

    [Fact]
    public void An_output_folder_that_cannot_be_written_is_named()
    {
        using var dir = new TestData.TempFolder();
        File.WriteAllText(dir.File("run"), "a file where the folder should be");
        File.WriteAllText(dir.File("c.json"), "{}");
        var result = HostRun.Run("train", "--config", dir.File("c.json"), "--output", dir.File("run"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{dir.File("run")}: is a file, not a folder", HostRun.OneLineError(result));
        // Resuming into it says the same, not that there is nothing to resume.
        var resumed = HostRun.Run("train", "--resume", "--output", dir.File("run"));
        Assert.Equal((2, $"error: {dir.File("run")}: is a file, not a folder"), (resumed.ExitCode, HostRun.OneLineError(resumed)));
    }

    [Fact]
    public void A_folder_where_the_run_writes_a_file_is_named_before_training()
    {
        using var dir = new TestData.TempFolder();
        Directory.CreateDirectory(Path.Combine(dir.File("run"), "model.zip"));
        File.WriteAllText(dir.File("c.json"), "{}");
        var result = HostRun.Run("train", "--config", dir.File("c.json"), "--output", dir.File("run"), "--Data:Root=" + dir.File("nowhere"));
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: {Path.Combine(dir.File("run"), "model.zip")}: is a folder, where the run writes its model.zip; remove it or choose another --output",
            HostRun.OneLineError(result));
    }

    [Fact]
    public void A_valid_ml_net_zip_of_another_model_is_refused()
    {
        using var dir = new TestData.TempFolder();
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(new[] { new OtherRow { A = 1, B = 2 } });
        var other = ml.Transforms.Concatenate("Features", "A", "B").Fit(data);
        ml.Model.Save(other, data.Schema, dir.File("other.zip"));
        TestImages.WriteBmp(dir.File("a.bmp"), 32, 32, TestImages.Pattern);
        var result = HostRun.Run("predict", "--model", dir.File("other.zip"), dir.File("a.bmp"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("other.zip: not a Cifar image classifier", HostRun.OneLineError(result));
    }

    [Theory]
    [InlineData("train", "--config", "--output")]
    [InlineData("train", "--output", "--config")]
    [InlineData("evaluate", "--model", null)]
    [InlineData("evaluate", "--data", "--model")]
    [InlineData("evaluate", "--split", "--model")]
    [InlineData("evaluate", "--limit", "--model")]
    [InlineData("predict", "--model", null)]
    [InlineData("predict", "--format", "--model")]
    [InlineData("serve", "--model", null)]
    [InlineData("serve", "--runs", "--model")]
    [InlineData("serve", "--urls", "--model")]
    public void An_empty_option_value_is_named(string command, string option, string? otherOption)
    {
        // An empty --data used to mean the default root and an empty --urls Kestrel's default address; an empty path, an ArgumentException.
        using var dir = new TestData.TempFolder();
        var args = new List<string> { command, option, "" };
        if (otherOption is not null) args.AddRange(new[] { otherOption, dir.File("x") });
        var result = HostRun.Run(args.ToArray());
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: {option} needs a value (got an empty string)", HostRun.OneLineError(result));
    }

    [Fact]
    public void An_empty_image_path_is_named()
    {
        using var dir = new TestData.TempFolder();
        var result = HostRun.Run("predict", "--model", dir.File("model.zip"), "");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: the image file path is empty", HostRun.OneLineError(result));
    }

    [Fact]
    public void Training_data_of_one_class_is_refused_naming_the_data_root()
    {
        using var dir = new TestData.TempFolder();
        ImageFolders(dir.File("data"), ("train", "cat"), ("test", "cat"));
        Assert.Equal($"error: {dir.File("data")}: the train split has 1 class (cat); a classifier needs at least 2",
            UserError(dir, HostRun.TrainOneEpoch(dir, dir.File("data"))));
    }

    [Fact]
    public void A_training_split_whose_every_image_is_skipped_is_refused()
    {
        using var dir = new TestData.TempFolder();
        ImageFolders(dir.File("data"), ("test", "cat"), ("test", "dog"));
        foreach (var cls in new[] { "cat", "dog" })
        {
            Directory.CreateDirectory(Path.Combine(dir.File("data"), "train", cls));
            File.WriteAllText(Path.Combine(dir.File("data"), "train", cls, "broken.jpg"), "this is not a JPEG");
        }
        Assert.Equal($"error: {dir.File("data")}: no training images left (every image was skipped as undecodable)",
            UserError(dir, HostRun.TrainOneEpoch(dir, dir.File("data"), "--Data:SkipBadImages=true")));
    }

    [Fact]
    public void A_data_root_that_is_a_file_gets_no_hint_to_set_the_root()
    {
        using var dir = new TestData.TempFolder();
        File.WriteAllText(dir.File("data"), "a file");
        Assert.Equal($"error: {dir.File("data")}: is a file, not a data root folder", UserError(dir, HostRun.TrainOneEpoch(dir, dir.File("data"))));
    }

    [Theory]
    [InlineData(" 3")]
    [InlineData("1e3")]
    [InlineData("99999999999")]
    public void A_limit_that_is_not_a_plain_whole_number_is_refused(string limit)
    {
        using var dir = new TestData.TempFolder();
        var result = HostRun.Run("evaluate", "--model", dir.File("model.zip"), "--limit", limit);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: --limit must be a whole number (got '{limit}')", HostRun.OneLineError(result));
    }

    [Theory]
    [InlineData(" ; ", "error: --urls ' ; ': no URL in it (e.g. http://127.0.0.1:5000)")]
    [InlineData("http://127.0.0.1:99999", "error: --urls http://127.0.0.1:99999: port 99999 is outside 0–65535")]
    [InlineData("http://127.0.0.1:5000;garbage", "error: --urls garbage: not a URL (Invalid url: 'garbage')")]
    public void Serve_urls_are_checked_before_the_model_is_opened(string urls, string error)
    {
        using var dir = new TestData.TempFolder();
        var result = HostRun.Run("serve", "--model", dir.File("model.zip"), "--urls", urls);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal(error, HostRun.OneLineError(result));
    }

    [Fact]
    public void A_libtorch_path_holding_a_nul_character_is_named()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 2);
        File.WriteAllText(dir.File("c.json"), """{ "Torch": { "LibraryPath": "a\u0000b" }, "Training": { "Device": "cpu" } }""");
        var result = HostRun.Run("train", "--config", dir.File("c.json"), "--output", dir.File("run"), $"--Data:Root={dir.File("data")}");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal(@"error: Torch:LibraryPath: 'a\u0000b': not a folder path (empty, or holding a NUL character)", HostRun.OneLineError(result));
    }

    [Fact]
    public void Verbose_prints_the_cause_of_a_user_error()
    {
        using var dir = new TestData.TempFolder();
        File.WriteAllText(dir.File("model.zip"), "not a zip");
        var result = HostRun.Run("evaluate", "--model", dir.File("model.zip"), "--verbose");
        Assert.Equal(2, result.ExitCode);
        var lines = result.Errors.Split('\n');
        Assert.Equal($"error: {dir.File("model.zip")}: not a readable ML.NET model zip (not a zip archive: Central Directory corrupt.)", lines[0]);
        // The user error, then what revealed it: CifarModel's InvalidDataException, and below it the zip reader's own.
        Assert.StartsWith("Cifar.Host.Cli.UserError: ", lines[1]);
        Assert.Equal(2, lines.Count(l => l.StartsWith(" ---> System.IO.InvalidDataException: ", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_run_log_keeps_the_cause_of_a_user_error()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 2);
        File.WriteAllText(dir.File("weights.zip"), "not a zip");
        var result = HostRun.TrainOneEpoch(dir, dir.File("data"), $"--Model:InitialWeights={dir.File("weights.zip")}");
        Assert.Contains("Model:InitialWeights: ", UserError(dir, result));
        var log = File.ReadAllText(Path.Combine(dir.File("run"), "train.log"));
        Assert.Contains("Cifar.Host.Cli.UserError: Model:InitialWeights: ", log);
        Assert.Contains(" ---> Cifar.InitialWeightsException: ", log);
    }

    private sealed class OtherRow
    {
        public float A { get; set; }
        public float B { get; set; }
    }
}
