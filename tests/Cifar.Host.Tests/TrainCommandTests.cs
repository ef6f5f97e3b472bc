using System.Globalization;
using System.Text.Json;
using Cifar.MLNet.Prediction;
using Cifar.Tests;
using SkiaSharp;

namespace Cifar.Host.Tests;

public class TrainCommandTests : IClassFixture<TrainRun>
{
    private readonly TrainRun _run;

    public TrainCommandTests(TrainRun run) => _run = run;

    private string Artifact(string name) => Path.Combine(_run.Output, name);

    [Fact]
    public void Train_succeeds_and_prints_a_line_per_epoch()
    {
        Assert.True(_run.Result.ExitCode == 0, _run.Result.Errors);
        Assert.Contains("Epoch 1/2: train loss", _run.Result.Output);
        Assert.Contains("Epoch 2/2: train loss", _run.Result.Output);
        Assert.Contains("100 training, 20 validation images, 10 classes", _run.Result.Output);
        // What trains, resolved: the device, the precision and why, libtorch's threads.
        int threads = TorchSharp.torch.get_num_threads();
        Assert.Contains($"training: device cpu, precision Float32 (Training:Precision is Float32), {threads} libtorch thread", _run.Result.Output);
        Assert.Contains($"Training: device cpu, precision Float32", File.ReadAllText(Artifact("train.log")));
        // The CPU's memory settings that ran: huge pages where libtorch's switch is on and the kernel gives them on request,
        // and glibc's heap kept (cifar train opts in; glibc on x86-64 Linux takes it).
        const string thpSettings = "/sys/kernel/mm/transparent_hugepage/enabled";
        bool hugePages = Environment.GetEnvironmentVariable("THP_MEM_ALLOC_ENABLE") == "1" && File.Exists(thpSettings)
                         && File.ReadAllText(thpSettings) is var mode && (mode.Contains("[always]") || mode.Contains("[madvise]"));
        Assert.Equal(hugePages, _run.Result.Output.Contains(", huge pages"));
        Assert.Equal(GlibcHeap.LargeBlockIsMapped() is not null, _run.Result.Output.Contains(", freed buffers kept"));
        // One heap for all threads only where the process started with it: this one (the tests' host) was not restarted.
        bool oneHeap = Environment.GetEnvironmentVariable("GLIBC_TUNABLES")?.Split(':').Contains("glibc.malloc.arena_max=1") == true;
        Assert.Equal(oneHeap, _run.Result.Output.Contains(", one heap for all threads"));
        // Training:FlushDenormals is on by default; it can flush on x86-64 Linux.
        if (OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64)
            Assert.Contains(", denormals flushed to zero", _run.Result.Output);
        else
            Assert.Contains("warning: Training:FlushDenormals:", _run.Result.Output);
    }

    [Fact]
    public void Train_opts_in_to_keeping_freed_native_buffers()
    {
        // The library never raises glibc's thresholds on its own (tests of the trainer show it); the app's train does, at
        // start, so its CPU steps stay as fast (docs/performance.md). Blocks just under glibc's 32 MiB threshold ceiling
        // and above it (40 MiB: no block gets a mapping of its own, up to the 64 MiB of a thread arena's heap; glibc maps
        // larger ones on threads other than the main one anyway) now come from the heap.
        Assert.True(_run.Result.ExitCode == 0, _run.Result.Errors);
        var mapped = GlibcHeap.LargeBlockIsMapped();
        if (mapped is null) Assert.Skip("glibc's heap on x86-64 Linux only");
        Assert.False(mapped.Value, "a 32 MiB block still gets its own mapping after cifar train");
        Assert.False(GlibcHeap.LargeBlockIsMapped(40 << 20, count: 8), "a 40 MiB block still gets its own mapping after cifar train");
    }

    [Fact]
    public void Metrics_csv_has_the_header_and_one_parsable_row_per_epoch()
    {
        var lines = File.ReadAllLines(Artifact("metrics.csv"));
        Assert.Equal("epoch,train_loss,train_acc,val_loss,val_acc,seconds", lines[0]);
        Assert.Equal(3, lines.Length);
        for (int i = 1; i < lines.Length; i++)
        {
            var cells = lines[i].Split(',').Select(c => double.Parse(c, CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(i, cells[0]);
            Assert.InRange(cells[2], 0, 1);
            Assert.InRange(cells[4], 0, 1);
            Assert.True(cells[1] > 0 && cells[3] > 0 && cells[5] > 0);
        }
        using var json = JsonDocument.Parse(File.ReadAllText(Artifact("metrics.json")));
        var epochs = json.RootElement.GetProperty("epochs");
        Assert.Equal(2, epochs.GetArrayLength());
        Assert.Equal(double.Parse(lines[2].Split(',')[4], CultureInfo.InvariantCulture), epochs[1].GetProperty("val_acc").GetDouble(), 12);
        var run = json.RootElement.GetProperty("run");
        Assert.Equal(10, run.GetProperty("classes").GetArrayLength());
        Assert.Equal(("cpu", "Float32", TorchSharp.torch.get_num_threads(), "Libtorch"), (run.GetProperty("device").GetString(),
            run.GetProperty("precision").GetString(), run.GetProperty("threads").GetInt32(), run.GetProperty("input_gradient").GetString()));
    }

    [Theory]
    [InlineData("loss.png")]
    [InlineData("accuracy.png")]
    [InlineData("confusion.png")]
    public void Plots_are_pngs_that_decode(string name)
    {
        using var bitmap = SKBitmap.Decode(Artifact(name));
        Assert.NotNull(bitmap);
        Assert.True(bitmap.Width >= 600 && bitmap.Height >= 400);
        Assert.Equal((byte)0x89, File.ReadAllBytes(Artifact(name))[0]);
    }

    [Fact]
    public void The_model_zip_reloads_and_the_run_folder_has_config_log_confusion_text_and_evaluation()
    {
        using var model = CifarModel.Load(Artifact("model.zip"));
        Assert.Equal(Enumerable.Range(0, 10).Select(c => $"class{c}"), model.ClassNames);
        using var config = JsonDocument.Parse(File.ReadAllText(Artifact("config.json")));
        Assert.Equal(2, config.RootElement.GetProperty("Training").GetProperty("Epochs").GetInt32());
        Assert.True(config.RootElement.GetProperty("Training").GetProperty("FlushDenormals").GetBoolean());
        Assert.Contains("Epoch 2/2", File.ReadAllText(Artifact("train.log")));
        var confusion = File.ReadAllText(Artifact("confusion.txt"));
        Assert.Contains("confusion matrix", confusion);
        Assert.Contains("class9", confusion);
        // evaluation.json: the final validation, which without test-time views is the last epoch's.
        using var evaluation = JsonDocument.Parse(File.ReadAllText(Artifact("evaluation.json")));
        using var metrics = JsonDocument.Parse(File.ReadAllText(Artifact("metrics.json")));
        double lastEpoch = metrics.RootElement.GetProperty("epochs")[1].GetProperty("val_acc").GetDouble();
        Assert.Equal(lastEpoch, evaluation.RootElement.GetProperty("accuracy").GetDouble(), 12);
        Assert.Equal("None", evaluation.RootElement.GetProperty("test_time_augmentation").GetString());
        Assert.StartsWith($"accuracy {evaluation.RootElement.GetProperty("accuracy").GetDouble():P2}", confusion);
        Assert.True(evaluation.RootElement.GetProperty("seconds_to_model").GetDouble() > 0);
        Assert.Equal(("cpu", "Float32", TorchSharp.torch.get_num_threads(), "Libtorch"), (evaluation.RootElement.GetProperty("device").GetString(),
            evaluation.RootElement.GetProperty("precision").GetString(), evaluation.RootElement.GetProperty("threads").GetInt32(),
            evaluation.RootElement.GetProperty("input_gradient").GetString()));
        Assert.Empty(Directory.GetFiles(_run.Output, "*.tmp"));
    }

    [Fact]
    public void Predict_prints_exact_tsv_and_json_with_the_top_three()
    {
        using var images = new TestData.TempFolder();
        TestImages.WriteBmp(images.File("a.bmp"), 32, 32, TestImages.Pattern);
        TestImages.WriteBmp(images.File("b.bmp"), 50, 20, (x, y) => (10, 200, 30));
        var tsv = HostRun.Run("predict", "--model", Artifact("model.zip"), "--format", "tsv", images.File("a.bmp"), images.File("b.bmp"));
        Assert.True(tsv.ExitCode == 0, tsv.Errors);
        var rows = tsv.Output.TrimEnd('\n').Split('\n');
        Assert.Equal(2, rows.Length);
        using var model = CifarModel.Load(Artifact("model.zip"));
        foreach (var (row, path) in rows.Zip(new[] { images.File("a.bmp"), images.File("b.bmp") }))
        {
            var expected = model.Predict(path);
            Assert.Equal($"{path}\t{expected.PredictedLabel}\t{expected.Score.Max().ToString("F4", CultureInfo.InvariantCulture)}", row);
        }
        var json = HostRun.Run("predict", "--model", Artifact("model.zip"), "--format", "json", images.File("a.bmp"));
        using var doc = JsonDocument.Parse(json.Output);
        var top3 = doc.RootElement[0].GetProperty("top3");
        Assert.Equal(3, top3.GetArrayLength());
        Assert.Equal(doc.RootElement[0].GetProperty("label").GetString(), top3[0].GetProperty("label").GetString());
        var table = HostRun.Run("predict", "--model", Artifact("model.zip"), images.File("a.bmp"));
        Assert.Contains("top 3", table.Output);
    }

    [Fact]
    public void Predict_refuses_a_folder_and_a_non_image_by_name()
    {
        using var dir = new TestData.TempFolder();
        File.WriteAllText(dir.File("notes.txt"), "not an image");
        var folder = HostRun.Run("predict", "--model", Artifact("model.zip"), dir.Path);
        Assert.Equal(2, folder.ExitCode);
        Assert.Contains("is a folder", HostRun.OneLineError(folder));
        var text = HostRun.Run("predict", "--model", Artifact("model.zip"), dir.File("notes.txt"));
        Assert.Equal(2, text.ExitCode);
        Assert.Contains("notes.txt: not an image", HostRun.OneLineError(text));
    }

    [Fact]
    public void Evaluate_reports_the_same_accuracy_as_training_through_the_zip_alone()
    {
        var result = HostRun.Run("evaluate", "--model", Artifact("model.zip"), "--data", _run.DataRoot);
        Assert.True(result.ExitCode == 0, result.Errors);
        var lastRow = File.ReadAllLines(Artifact("metrics.csv"))[^1].Split(',');
        double validationAccuracy = double.Parse(lastRow[4], CultureInfo.InvariantCulture);
        Assert.Contains($"accuracy {validationAccuracy.ToString("P2", CultureInfo.InvariantCulture)}", result.Output);
        Assert.Contains("per-class accuracy", result.Output);
        Assert.Contains("confusion matrix", result.Output);
        Assert.Contains("log-loss", result.Output);
    }

    [Fact]
    public void A_zip_that_is_not_a_model_is_refused()
    {
        using var dir = new TestData.TempFolder();
        File.WriteAllBytes(dir.File("torn.zip"), File.ReadAllBytes(Artifact("model.zip"))[..1000]);
        var result = HostRun.Run("predict", "--model", dir.File("torn.zip"), Artifact("loss.png"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("torn.zip: not a readable ML.NET model zip", HostRun.OneLineError(result));
    }
}
