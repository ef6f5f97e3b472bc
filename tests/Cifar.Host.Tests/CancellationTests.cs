using Cifar.Tests;

namespace Cifar.Host.Tests;

public class CancellationTests
{
    [Fact]
    public async Task Stopping_a_run_keeps_the_finished_epochs_metrics_and_saves_no_half_model()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 20);
        File.WriteAllText(dir.File("long.json"), """{ "Training": { "Epochs": 500, "BatchSize": 16, "Device": "cpu" } }""");
        using var stop = new CancellationTokenSource();
        // Training runs synchronously inside the command, so it gets a thread of its own here.
        var run = Task.Run(() => HostRun.RunAsync(new[] { "train", "--config", dir.File("long.json"), "--output", dir.File("run"), $"--Data:Root={dir.File("data")}" }, stop.Token));
        var metrics = Path.Combine(dir.File("run"), "metrics.csv");
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!File.Exists(metrics) && DateTime.UtcNow < deadline && !run.IsCompleted) await Task.Delay(50);
        stop.Cancel(); // what Ctrl+C does
        var result = await run;
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("stopped after", result.Output);
        Assert.True(File.ReadAllLines(metrics).Length >= 2, "metrics.csv lost the finished epochs");
        Assert.False(File.Exists(Path.Combine(dir.File("run"), "model.zip")));
        Assert.Empty(Directory.GetFiles(dir.File("run"), "*.tmp"));
    }
}
