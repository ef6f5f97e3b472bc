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
    private static HostRun.Result Train(TestData.TempFolder dir, string dataRoot, params string[] more)
    {
        File.WriteAllText(dir.File("c.json"), """{ "Training": { "Epochs": 1, "BatchSize": 4, "Device": "cpu" } }""");
        return HostRun.Run(new[] { "train", "--config", dir.File("c.json"), "--output", dir.File("run"), $"--Data:Root={dataRoot}" }.Concat(more).ToArray());
    }

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
        Assert.Contains($"{dir.File("nowhere")}: data root not found", UserError(dir, Train(dir, dir.File("nowhere"))));
    }

    [Fact]
    public void An_empty_split_is_named()
    {
        using var dir = new TestData.TempFolder();
        Directory.CreateDirectory(Path.Combine(dir.File("data"), "train"));
        Assert.Contains("no class folders", UserError(dir, Train(dir, dir.File("data"))));
    }

    [Fact]
    public void A_class_folder_without_images_is_named()
    {
        using var dir = new TestData.TempFolder();
        ImageFolders(dir.File("data"), ("train", "cat"), ("test", "cat"));
        Directory.CreateDirectory(Path.Combine(dir.File("data"), "train", "dog"));
        Assert.Contains(Path.Combine("train", "dog") + ": class folder has no image files", UserError(dir, Train(dir, dir.File("data"))));
    }

    [Fact]
    public void Train_and_test_with_different_classes_are_refused()
    {
        using var dir = new TestData.TempFolder();
        ImageFolders(dir.File("data"), ("train", "cat"), ("train", "dog"), ("test", "cat"), ("test", "frog"));
        Assert.Contains("different classes (cat, dog / cat, frog)", UserError(dir, Train(dir, dir.File("data"))));
    }

    [Fact]
    public void An_undecodable_image_is_named_by_default_and_skipped_on_request()
    {
        using var dir = new TestData.TempFolder();
        ImageFolders(dir.File("data"), ("train", "cat"), ("train", "dog"), ("test", "cat"), ("test", "dog"));
        // (A truncated BMP still decodes, the missing rows black; a file that is not an image does not.)
        var bad = Path.Combine(dir.File("data"), "train", "dog", "broken.jpg");
        File.WriteAllText(bad, "this is not a JPEG");
        var error = UserError(dir, Train(dir, dir.File("data")));
        Assert.Contains($"{bad}: not an image that can be decoded (not a known image format)", error);
        Assert.Contains("Data:SkipBadImages=true", error);

        var skipped = Train(dir, dir.File("data"), "--Data:SkipBadImages=true");
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
        var error = UserError(dir, Train(dir, dir.File("data")));
        Assert.Contains($"{huge}: declares a 100000×100000 image, 10,000,000,000 pixels; images of more than 16,777,216 pixels (4096×4096) are refused before decoding", error);

        var skipped = Train(dir, dir.File("data"), "--Data:SkipBadImages=true");
        Assert.True(skipped.ExitCode == 0, skipped.Errors);
        Assert.Contains("skipped 1 images that cannot be decoded", skipped.Output);
    }

    [Fact]
    public void A_binary_batch_of_the_wrong_length_is_named()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 4);
        File.WriteAllBytes(Path.Combine(dir.File("data"), "data_batch_2.bin"), new byte[3073 * 2 + 7]);
        Assert.Contains("data_batch_2.bin: 6153 bytes is not a whole number of 3073-byte records", UserError(dir, Train(dir, dir.File("data"))));
    }

    [Fact]
    public void Cuda_without_a_gpu_is_a_user_error()
    {
        if (TorchSharp.torch.cuda.is_available()) Assert.Skip("a CUDA GPU is present: the error is for machines without one");
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 2);
        Assert.Contains("Training:Device: device 'cuda' was requested but libtorch sees no CUDA GPU",
            UserError(dir, Train(dir, dir.File("data"), "--Training:Device=cuda")));
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

    private sealed class OtherRow
    {
        public float A { get; set; }
        public float B { get; set; }
    }
}
