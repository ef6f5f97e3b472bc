using Cifar.Tests;

namespace Cifar.Host.Tests;

/// <summary>A run folder tells one story: one run at a time, no files of another run beside this one's, and a log with the whole error.</summary>
public class RunFolderTests
{
    private static string[] Train(TestData.TempFolder dir, params string[] more) =>
        new[] { "train", "--config", dir.File("c.json"), "--output", dir.File("run"), $"--Data:Root={dir.File("nowhere")}" }
            .Concat(more).ToArray();

    private static TestData.TempFolder Folder()
    {
        var dir = new TestData.TempFolder();
        File.WriteAllText(dir.File("c.json"), """{ "Training": { "Epochs": 1, "Device": "cpu" } }""");
        Directory.CreateDirectory(dir.File("run"));
        return dir;
    }

    [Fact]
    public void A_second_run_into_a_folder_another_run_holds_is_refused_before_it_touches_anything()
    {
        using var dir = Folder();
        File.WriteAllText(dir.File("run/model.zip"), "the other run's");
        using (new FileStream(dir.File("run/.cifar-train.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var result = HostRun.Run(Train(dir));
            Assert.Equal(2, result.ExitCode);
            Assert.Equal($"error: {dir.File("run")}: another cifar train is writing into this folder; wait for it or choose another --output",
                HostRun.OneLineError(result));
        }
        Assert.Equal("the other run's", File.ReadAllText(dir.File("run/model.zip")));
        Assert.False(File.Exists(dir.File("run/config.json")));
    }

    [Fact]
    public void A_fresh_run_that_fails_leaves_none_of_the_previous_runs_files_and_logs_the_whole_error()
    {
        using var dir = Folder();
        foreach (var name in new[] { "model.zip", "metrics.csv", "metrics.json", "loss.png", "confusion.txt", "checkpoint.bin", "train.log" })
            File.WriteAllText(dir.File($"run/{name}"), "previous run");
        var result = HostRun.Run(Train(dir));
        Assert.Equal(2, result.ExitCode);
        Assert.EndsWith("nowhere: data root not found (set Data:Root or CIFAR10_DATA, or Data:Download=true)", HostRun.OneLineError(result));
        Assert.Equal(new[] { "config.json", "train.log" }, Directory.GetFiles(dir.File("run")).Select(Path.GetFileName).Order());
        var log = File.ReadAllText(dir.File("run/train.log"));
        Assert.DoesNotContain("previous run", log);
        Assert.Contains("The run failed", log);
        Assert.Contains("data root not found", log);
        Assert.Contains("   at Cifar.Host.", log); // the stack trace, for the bug report
    }

    [Fact]
    public void Initial_weights_inside_the_folder_a_fresh_run_replaces_are_refused_before_anything_is_removed()
    {
        using var dir = Folder();
        File.WriteAllText(dir.File("run/model.zip"), "the earlier model");
        var result = HostRun.Run(Train(dir, $"--Model:InitialWeights={dir.File("run/model.zip")}"));
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: Model:InitialWeights: {dir.File("run/model.zip")} is a file of {dir.File("run")}, which this run replaces; copy it elsewhere or train into another folder",
            HostRun.OneLineError(result));
        Assert.Equal("the earlier model", File.ReadAllText(dir.File("run/model.zip")));
    }

    [Fact]
    public void Verbose_prints_the_whole_exception_after_the_one_line()
    {
        using var dir = Folder();
        var result = HostRun.Run(Train(dir, "--verbose"));
        Assert.Equal(2, result.ExitCode);
        var lines = result.Errors.Split('\n');
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(lines, line => line.Contains("   at Cifar.Host."));
    }

    [Fact]
    public void A_resume_that_fails_before_it_resumes_leaves_the_finished_run_as_it_was()
    {
        using var dir = Folder();
        File.Copy(dir.File("c.json"), dir.File("run/config.json"));
        File.WriteAllText(dir.File("run/checkpoint.bin"), "not a checkpoint");
        File.WriteAllText(dir.File("run/model.zip"), "the finished run's");
        var result = HostRun.Run("train", "--resume", "--output", dir.File("run"), $"--Data:Root={dir.File("nowhere")}");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("the finished run's", File.ReadAllText(dir.File("run/model.zip")));
        Assert.Equal("not a checkpoint", File.ReadAllText(dir.File("run/checkpoint.bin")));
        Assert.False(File.Exists(dir.File("run/.cifar-train.lock")));
    }
}
