using Cifar.Tests;

namespace Cifar.Host.Tests;

/// <summary>
/// Every command, whether it succeeds, is refused, fails mid-run or is stopped with Ctrl+C, leaves nothing in the
/// temporary folder: each runs in a process of its own with TMPDIR an empty folder, checked empty after it exits.
/// </summary>
public class TempFolderTests(TempFolderTests.Inputs inputs) : IClassFixture<TempFolderTests.Inputs>
{
    /// <summary>Image-folder data (2 classes), a variant of it per kind of bad data, and one trained run to resume and score with.</summary>
    public sealed class Inputs : IDisposable
    {
        public TestData.TempFolder Folder { get; } = new();
        public string Data => Folder.File("data");
        public string OneClass => Folder.File("one-class");
        public string WithBrokenImage => Folder.File("broken");
        public string Config => Folder.File("tiny.json");
        public string Run => Folder.File("run");
        public string Model => Path.Combine(Run, "model.zip");
        public string NotAZip => Folder.File("garbage.zip");
        public string Image => Folder.File("a.bmp");

        public Inputs()
        {
            ImageFolders(Data, "cat", "dog");
            ImageFolders(OneClass, "cat");
            ImageFolders(WithBrokenImage, "cat", "dog");
            foreach (var split in new[] { "train", "test" })
                File.WriteAllText(Path.Combine(WithBrokenImage, split, "dog", "broken.jpg"), "this is not a JPEG");
            File.WriteAllText(Config, """{ "Training": { "Epochs": 1, "BatchSize": 4, "Device": "cpu" } }""");
            File.WriteAllText(NotAZip, "not a zip");
            TestImages.WriteBmp(Image, 32, 32, TestImages.Pattern);
            var trained = HostRun.Run("train", "--config", Config, "--output", Run, $"--Data:Root={Data}");
            Assert.True(trained.ExitCode == 0, trained.Errors);
        }

        private static void ImageFolders(string root, params string[] classes)
        {
            foreach (var split in new[] { "train", "test" })
            foreach (var cls in classes)
            {
                Directory.CreateDirectory(Path.Combine(root, split, cls));
                for (int i = 0; i < 4; i++)
                    TestImages.WriteBmp(Path.Combine(root, split, cls, $"{i}.bmp"), 32, 32, TestImages.Pattern);
            }
        }

        public void Dispose() => Folder.Dispose();
    }

    /// <summary>A fresh output folder and an empty temporary folder for one command.</summary>
    private sealed class Case : IDisposable
    {
        public TestData.TempFolder Folder { get; } = new();
        public string Temp { get; }
        public string Output => Folder.File("run");

        public Case() => Directory.CreateDirectory(Temp = Folder.File("tmp"));

        public void Dispose() => Folder.Dispose();
    }

    private string[] Train(Case c, params string[] more) =>
        new[] { "train", "--config", inputs.Config, "--output", c.Output, $"--Data:Root={inputs.Data}" }.Concat(more).ToArray();

    private static async Task<AppProcess.Result> AssertLeavesNothing(Case c, string[] args, int exitCode, string? interruptAfterLine = null)
    {
        var result = await AppProcess.RunAsync(c.Temp, args, interruptAfterLine);
        Assert.True(result.ExitCode == exitCode, $"exit {result.ExitCode}: {result.Errors}");
        Assert.Empty(Directory.GetFileSystemEntries(c.Temp));
        return result;
    }

    [Fact]
    public async Task Train_that_succeeds()
    {
        using var c = new Case();
        var result = await AssertLeavesNothing(c, Train(c), 0);
        Assert.True(File.Exists(Path.Combine(c.Output, "model.zip")));
        // The app started itself again with one heap for all threads (TorchRuntime.RestartWithTrainingHeap), where glibc is.
        Assert.Equal(GlibcHeap.LargeBlockIsMapped() is not null, result.Output.Contains(", one heap for all threads"));
    }

    [Fact]
    public async Task Train_refused_at_its_options()
    {
        using var c = new Case();
        var result = await AssertLeavesNothing(c, Train(c, "--Training:Epochs=0"), 2);
        Assert.Contains("'Training:Epochs' must be", result.Errors);
    }

    [Fact]
    public async Task Train_on_one_class()
    {
        using var c = new Case();
        var result = await AssertLeavesNothing(c, Train(c, $"--Data:Root={inputs.OneClass}"), 2);
        Assert.Equal($"error: {inputs.OneClass}: the train split has 1 class (cat); a classifier needs at least 2", result.Errors.TrimEnd());
    }

    [Fact]
    public async Task Train_resume_refused_by_the_checkpoint()
    {
        // After the stages are fitted: their ONNX graph file was what a refused resume used to leave.
        using var c = new Case();
        Directory.CreateDirectory(c.Output);
        foreach (var file in Directory.GetFiles(inputs.Run)) File.Copy(file, Path.Combine(c.Output, Path.GetFileName(file)));
        var result = await AssertLeavesNothing(c, new[] { "train", "--resume", "--output", c.Output, "--Training:BatchSize=8" }, 2);
        Assert.Contains("checkpoint.bin: made with other settings", result.Errors);
    }

    [Fact]
    public async Task Train_with_initial_weights_that_cannot_be_read()
    {
        using var c = new Case();
        var result = await AssertLeavesNothing(c, Train(c, $"--Model:InitialWeights={inputs.NotAZip}"), 2);
        Assert.Contains($"Model:InitialWeights: {inputs.NotAZip}: neither a model zip nor a Cifar checkpoint", result.Errors);
    }

    [Fact]
    public async Task Train_stopped_by_an_image_that_does_not_decode()
    {
        using var c = new Case();
        var result = await AssertLeavesNothing(c, Train(c, $"--Data:Root={inputs.WithBrokenImage}"), 2);
        Assert.Contains("broken.jpg: not an image that can be decoded", result.Errors);
    }

    [Fact]
    public async Task Train_that_diverges_mid_run()
    {
        using var c = new Case();
        var result = await AssertLeavesNothing(c, Train(c, "--Training:Optimizer=Sgd", "--Training:LearningRate=1e12", "--Training:Epochs=3"), 1);
        Assert.Contains("the training loss became non-finite", result.Errors);
    }

    [Fact]
    public async Task Train_stopped_with_ctrl_c()
    {
        using var c = new Case();
        var result = await AssertLeavesNothing(c, Train(c, "--Training:Epochs=500"), 1, interruptAfterLine: "Epoch 1/");
        Assert.Contains("stopped after", result.Output);
        Assert.False(File.Exists(Path.Combine(c.Output, "model.zip")));
    }

    [Fact]
    public async Task Evaluate_that_succeeds_fails_on_an_image_or_is_refused_a_model()
    {
        using (var c = new Case()) await AssertLeavesNothing(c, new[] { "evaluate", "--model", inputs.Model, "--data", inputs.Data }, 0);
        using (var c = new Case())
        {
            var broken = await AssertLeavesNothing(c, new[] { "evaluate", "--model", inputs.Model, "--data", inputs.WithBrokenImage }, 2);
            Assert.Contains("broken.jpg: not an image that can be decoded", broken.Errors);
        }
        using (var c = new Case())
        {
            var refused = await AssertLeavesNothing(c, new[] { "evaluate", "--model", inputs.NotAZip, "--data", inputs.Data }, 2);
            Assert.Contains($"{inputs.NotAZip}: not a readable ML.NET model zip (not a zip archive", refused.Errors);
        }
    }

    [Fact]
    public async Task Evaluate_stopped_with_ctrl_c_stops_scoring_and_leaves_nothing()
    {
        using var c = new Case();
        // Enough images that scoring is still running when the signal arrives (the header line comes before it).
        var many = c.Folder.File("many");
        foreach (var cls in new[] { "cat", "dog" })
        {
            Directory.CreateDirectory(Path.Combine(many, "test", cls));
            for (int i = 0; i < 1500; i++) TestImages.WriteBmp(Path.Combine(many, "test", cls, $"{i}.bmp"), 32, 32, TestImages.Pattern);
        }
        var stopped = await AssertLeavesNothing(c, new[] { "evaluate", "--model", inputs.Model, "--data", many }, 1, interruptAfterLine: inputs.Model);
        Assert.StartsWith($"{inputs.Model} on {many} (test, 3000 images)", stopped.Output);
        Assert.DoesNotContain("accuracy", stopped.Output); // no report: it stopped before the end
        Assert.EndsWith("error: stopped", stopped.Errors.TrimEnd());
    }

    [Fact]
    public async Task Predict_that_succeeds_fails_on_an_image_or_is_refused_a_model()
    {
        using (var c = new Case()) await AssertLeavesNothing(c, new[] { "predict", "--model", inputs.Model, inputs.Image }, 0);
        using (var c = new Case())
        {
            var broken = await AssertLeavesNothing(c, new[] { "predict", "--model", inputs.Model, Path.Combine(inputs.WithBrokenImage, "test", "dog", "broken.jpg") }, 2);
            Assert.Contains("broken.jpg: not an image that can be decoded", broken.Errors);
        }
        using (var c = new Case())
        {
            var refused = await AssertLeavesNothing(c, new[] { "predict", "--model", inputs.NotAZip, inputs.Image }, 2);
            Assert.Contains($"{inputs.NotAZip}: not a readable ML.NET model zip (not a zip archive", refused.Errors);
        }
    }

    [Fact]
    public async Task Serve_stopped_with_ctrl_c_or_refused_a_model()
    {
        using (var c = new Case())
        {
            var served = await AssertLeavesNothing(c, new[] { "serve", "--model", inputs.Model, "--urls", "http://127.0.0.1:0" }, 0, interruptAfterLine: "serving ");
            Assert.Contains($"serving {inputs.Model} on http://127.0.0.1:", served.Output);
        }
        using (var c = new Case())
        {
            var refused = await AssertLeavesNothing(c, new[] { "serve", "--model", inputs.NotAZip, "--urls", "http://127.0.0.1:0" }, 2);
            Assert.Contains($"{inputs.NotAZip}: not a readable ML.NET model zip (not a zip archive", refused.Errors);
        }
    }
}
