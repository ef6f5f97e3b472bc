using Cifar.MLNet.Prediction;
using Cifar.Tests;

namespace Cifar.MLNet.Tests;

/// <summary>
/// samples/OwnImages, run as a process on a tiny generated folder: ML.NET's own image transforms and
/// <c>new CifarCnnEstimator(options)</c> train on non-square grey images of a class subset, and samples/PredictOnly
/// (no libtorch) predicts with the zip it saved as the library does.
/// </summary>
public class OwnImagesSampleTests
{
    [Fact]
    public void The_sample_trains_a_class_subset_of_grey_images_and_the_app_without_libtorch_predicts_with_its_zip()
    {
        using var dir = new TestData.TempFolder();
        // root/{train,test}/{down,left,right}: the bright half tells the class; "down" is left out by the subset.
        foreach (var (split, count) in new[] { ("train", 6), ("test", 2) })
            foreach (var label in new[] { "down", "left", "right" })
            {
                Directory.CreateDirectory(Path.Combine(dir.Path, split, label));
                for (int i = 0; i < count; i++)
                    TestImages.WriteBmp(Path.Combine(dir.Path, split, label, $"{i}.bmp"), 20, 20, (x, y) =>
                    {
                        bool bright = label == "down" ? y >= 10 : (x < 10) == (label == "left");
                        byte v = (byte)(bright ? 200 + i : 30);
                        return (v, v, v);
                    });
            }
        var zip = Path.Combine(dir.Path, "model.zip");

        var (exit, output, errors) = Run(App("OwnImages"), dir.Path, "16", "12", "grey", "1", zip, "left,right");

        Assert.True(exit == 0, $"exit {exit}: {errors}\n{output}");
        Assert.Contains(": 12 training, 4 test images of left,right", output);
        Assert.Contains("epoch 1: train loss", output);
        Assert.Contains("test accuracy", output);
        using (var model = CifarModel.Load(zip))
        {
            Assert.Equal(new ImageFormat(16, 12, ColorMode.Grayscale), model.ImageFormat);
            Assert.Equal(new[] { "left", "right" }, model.ClassNames);
        }
        PredictOnlyApp.AssertPredictsAsTheLibrary(zip, Path.Combine(dir.Path, "test", "right", "0.bmp"));
    }

    /// <summary>samples/NAME/bin/&lt;Configuration&gt;/&lt;tfm&gt;/NAME.dll beside this test's own build.</summary>
    private static string App(string name)
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var repo = testBin.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        var dll = Path.Combine(repo, "samples", name, "bin", testBin.Parent!.Name, testBin.Name, name + ".dll");
        Assert.True(File.Exists(dll), $"{name} not built at {dll}");
        return dll;
    }

    private static ChildProcess.Result Run(params string[] args) => ChildProcess.Run("dotnet", args, TimeSpan.FromMinutes(2));
}
