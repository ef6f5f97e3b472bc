using System.Diagnostics;
using Cifar.MLNet.Prediction;
using Cifar.Tests;

namespace Cifar.Host.Tests;

public class ResumeTests
{
    private static string[] Losses(string runDir) =>
        File.ReadAllLines(Path.Combine(runDir, "metrics.csv")).Skip(1)
            .Select(line => string.Join(',', line.Split(',')[..5])) // everything but the seconds
            .ToArray();

    [Fact]
    public void A_run_killed_mid_epoch_resumes_to_the_uninterrupted_runs_result()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 200); // 1,000 training images: an epoch of seconds
        File.WriteAllText(dir.File("c.json"), """{ "Training": { "Epochs": 3, "BatchSize": 16, "Device": "cpu" }, "Augmentation": { "HorizontalFlip": true, "RotationDegrees": 10 } }""");
        string[] Args(string output) => new[] { "train", "--config", dir.File("c.json"), "--output", output, $"--Data:Root={dir.File("data")}" };

        var straight = HostRun.Run(Args(dir.File("straight")));
        Assert.True(straight.ExitCode == 0, straight.Errors);

        // The same run in its own process, killed with SIGKILL early in epoch 2: a shell starts it,
        // waits for the first checkpoint (the end of epoch 1), waits 0.2 s more and kills it. (Started
        // straight from the test process, the child's progress could not be observed until it ended.)
        var killed = dir.File("killed");
        var script = dir.File("kill.sh");
        File.WriteAllText(script, """
            "$@" > "$OUT.stdout" 2>&1 &
            pid=$!
            while [ ! -f "$OUT/checkpoint.bin" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
            sleep 0.2
            kill -9 "$pid" 2>/dev/null
            wait "$pid"
            echo "exit $?"
            """);
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true };
        start.Environment["OUT"] = killed;
        foreach (var arg in new[] { script, "dotnet", Path.Combine(AppContext.BaseDirectory, "cifar.dll") }.Concat(Args(killed)))
            start.ArgumentList.Add(arg);
        var log = new System.Text.StringBuilder();
        using (var process = Process.Start(start)!)
        {
            log.Append(process.StandardOutput.ReadToEnd()).Append("; ");
            process.WaitForExit();
        }
        log.Append(File.ReadAllText(Path.Combine(killed, "metrics.csv")));
        Assert.False(File.Exists(Path.Combine(killed, "model.zip")), log.ToString());
        int epochsBeforeKill = Losses(killed).Length;
        Assert.InRange(epochsBeforeKill, 1, 2);

        var resumed = HostRun.Run("train", "--resume", "--output", killed);
        Assert.True(resumed.ExitCode == 0, resumed.Errors);
        Assert.Contains($"resuming after epoch {epochsBeforeKill}", resumed.Output);
        Assert.Equal(Losses(dir.File("straight")), Losses(killed));
        // The kill may land inside a save and leave that file's temporary copy; the resumed run's own
        // saves of the same files remove it.
        Assert.Empty(Directory.GetFiles(killed, "*.tmp"));

        TestImages.WriteBmp(dir.File("probe.bmp"), 32, 32, TestImages.Pattern);
        using var a = CifarModel.Load(Path.Combine(dir.File("straight"), "model.zip"));
        using var b = CifarModel.Load(Path.Combine(killed, "model.zip"));
        Assert.Equal(a.Predict(dir.File("probe.bmp")).Score, b.Predict(dir.File("probe.bmp")).Score);
    }

    [Fact]
    public void Resume_without_a_checkpoint_is_a_user_error()
    {
        using var dir = new TestData.TempFolder();
        var result = HostRun.Run("train", "--resume", "--output", dir.Path);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("nothing to resume", HostRun.OneLineError(result));
    }

    [Fact]
    public void A_resume_with_a_changed_setting_names_it_with_both_values_on_one_line()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 10);
        File.WriteAllText(dir.File("c.json"), """{ "Training": { "Epochs": 1, "BatchSize": 16, "Device": "cpu" } }""");
        var first = HostRun.Run("train", "--config", dir.File("c.json"), "--output", dir.File("run"), $"--Data:Root={dir.File("data")}");
        Assert.True(first.ExitCode == 0, first.Errors);

        var resumed = HostRun.Run("train", "--resume", "--config", dir.File("c.json"), "--output", dir.File("run"), $"--Data:Root={dir.File("data")}",
            "--Training:Epochs=2", "--Normalization:Mean:0=0.4", "--Training:LearningRate=0.002");
        Assert.Equal(2, resumed.ExitCode);
        Assert.Equal($"error: {Path.Combine(dir.File("run"), "checkpoint.bin")}: made with other settings: "
            + "Training:LearningRate was 0.001, now 0.002; Normalization:Mean:0 was 0.5, now 0.4", HostRun.OneLineError(resumed));
    }

    [Fact]
    public void An_absurd_learning_rate_stops_the_run_naming_epoch_and_step()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 20);
        File.WriteAllText(dir.File("c.json"), """{ "Training": { "Epochs": 2, "BatchSize": 8, "Device": "cpu", "Optimizer": "Sgd", "LearningRate": 1e12 } }""");
        var result = HostRun.Run("train", "--config", dir.File("c.json"), "--output", dir.File("run"), $"--Data:Root={dir.File("data")}");
        Assert.Equal(1, result.ExitCode);
        Assert.Matches("non-finite at epoch 1, step [0-9]+", HostRun.OneLineError(result));
        Assert.False(File.Exists(Path.Combine(dir.File("run"), "model.zip")));
    }
}
