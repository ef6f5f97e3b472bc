using System.Text.Json;
using Cifar.MLNet;
using Cifar.MLNet.Prediction;
using Cifar.Tests;

namespace Cifar.Host.Tests;

/// <summary><c>cifar train</c> on images of another size and colour: MNIST's 28×28 grey digits, read as they are.</summary>
public class ImageFormatTrainTests
{
    private static string Mnist() => Path.Combine(Path.GetDirectoryName(TestData.RequireRoot())!, "mnist-png");

    [Fact]
    public void Mnist_digits_train_as_28x28_grey_and_the_model_predicts_and_says_so()
    {
        using var dir = new TestData.TempFolder();
        var result = HostRun.TrainOneEpoch(dir, Mnist(),
            "--Data:ImageSize=28", "--Data:ColorMode=Grayscale", "--Data:TrainLimit=600", "--Data:ValidationLimit=200",
            "--Training:Epochs=3", "--Training:BatchSize=16");

        Assert.True(result.ExitCode == 0, result.Errors);
        Assert.Contains("images: read as 28x28 grey, channels first", result.Output);
        var run = dir.File("run");
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "metrics.json")));
        Assert.Equal(new[] { 1, 28, 28 }, metrics.RootElement.GetProperty("run").GetProperty("image").EnumerateArray().Select(e => e.GetInt32()));
        // Three epochs of 600 digits: far above the 10 % of chance, as a learning check, not a benchmark. (One epoch at
        // batch 4 ended anywhere from 25 to 48 % as oneDNN's kernels rounded differently; three at batch 16 end at 83-88 %.)
        var accuracy = metrics.RootElement.GetProperty("epochs")[2].GetProperty("val_acc").GetDouble();
        Assert.True(accuracy > 0.6, $"validation accuracy {accuracy}");

        using var model = CifarModel.Load(Path.Combine(run, "model.zip"));
        Assert.Equal(new ImageFormat(28, 28, ColorMode.Grayscale), model.ImageFormat);
        Assert.Equal(Enumerable.Range(0, 10).Select(d => d.ToString()), model.ClassNames);
        var seven = Directory.EnumerateFiles(Path.Combine(Mnist(), "test", "7")).Order().First();
        var predicted = HostRun.Run("predict", "--model", Path.Combine(run, "model.zip"), seven);
        Assert.True(predicted.ExitCode == 0, predicted.Errors);
        Assert.Equal(10, model.Predict(seven).Score.Length);
    }

    [Theory]
    [InlineData("--Data:ImageSize=0", "error: command line: 'Data:ImageSize' must be 1 to 1024 pixels (got 0)")]
    [InlineData("--Data:ImageHeight=2000", "error: command line: 'Data:ImageHeight' must be 1 to 1024 pixels (got 2000)")]
    public void Image_sizes_out_of_range_are_refused_by_key(string option, string message)
    {
        using var dir = new TestData.TempFolder();
        var result = HostRun.TrainOneEpoch(dir, Mnist(), option);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal(message, HostRun.OneLineError(result));
        Assert.False(Directory.Exists(dir.File("run")) && Directory.EnumerateFiles(dir.File("run"), "model.zip").Any());
    }

    [Fact]
    public void Grey_or_resized_cifar_binary_batches_and_three_different_means_for_grey_images_are_refused_in_one_line()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("batches"), recordsPerBatch: 10);
        var binary = HostRun.TrainOneEpoch(dir, dir.File("batches"), "--Data:ColorMode=Grayscale");
        Assert.Equal(2, binary.ExitCode);
        Assert.Equal($"error: {dir.File("batches")}: the CIFAR-10 binary batches hold 32x32 RGB pixels, not 32x32 grey: leave out Data:ImageSize and Data:ColorMode, or use image folders",
            HostRun.OneLineError(binary));

        var means = HostRun.TrainOneEpoch(dir, Mnist(), "--Data:ColorMode=Grayscale", "--Normalization:Mean:0=0.4");
        Assert.Equal(2, means.ExitCode);
        Assert.StartsWith("error: command line: 'Normalization:Mean' must have one value per channel (and :Std as many): the images have 1 channel",
            HostRun.OneLineError(means));
    }

    [Fact]
    public void Images_too_small_for_the_network_are_refused_before_training_naming_the_layer()
    {
        using var dir = new TestData.TempFolder();
        var result = HostRun.TrainOneEpoch(dir, Mnist(), "--Data:ImageSize=6", "--Data:ColorMode=Grayscale", "--Data:TrainLimit=20", "--Data:ValidationLimit=10");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("layer 9 'pool3' (MaxPool2d): kernel 2×2 is larger than its input", HostRun.OneLineError(result));
    }
}
