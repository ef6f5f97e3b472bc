using System.Diagnostics;
using Cifar.Tests;

namespace Cifar.Host.Tests;

public class DiskFullTests
{
    private static bool Run(string command, params string[] args)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        process.WaitForExit();
        return process.ExitCode == 0;
    }

    [Fact]
    public void A_full_disk_fails_the_run_in_one_line_and_leaves_no_model_of_another_run()
    {
        using var dir = new TestData.TempFolder();
        var small = dir.File("small");
        Directory.CreateDirectory(small);
        // A 4 MB file system of its own (root can mount tmpfs; elsewhere there is nothing to test with).
        if (!Run("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", small))
        {
            if (Environment.GetEnvironmentVariable("CI") == "true" && Environment.UserName == "root")
                Assert.Fail("could not mount a small tmpfs as root");
            Assert.Skip("mounting a small tmpfs needs root");
        }
        try
        {
            TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 20);
            File.WriteAllText(dir.File("c.json"), """{ "Training": { "Epochs": 2, "BatchSize": 16, "Device": "cpu" } }""");
            var previous = Enumerable.Range(0, 1 << 20).Select(i => (byte)i).ToArray();
            File.WriteAllBytes(Path.Combine(small, "model.zip"), previous);
            File.WriteAllBytes(Path.Combine(small, "filler"), new byte[2_800_000]); // ≈ 0.2 MB left: no room for a checkpoint

            var result = HostRun.Run("train", "--config", dir.File("c.json"), "--output", small, $"--Data:Root={dir.File("data")}");

            Assert.Equal(1, result.ExitCode);
            var error = HostRun.OneLineError(result);
            Assert.Contains("No space left on device", error);
            // An unforeseen error says where its trace is: the run's log, when it could be written, else --verbose.
            var log = Path.Combine(small, "train.log");
            Assert.EndsWith(File.ReadAllText(log).Contains("   at ", StringComparison.Ordinal)
                ? $" (the full exception is in {log})" : " (--verbose prints the full exception)", error);
            // The folder now holds this run's config and log: the previous run's model is not left beside them.
            Assert.False(File.Exists(Path.Combine(small, "model.zip")));
            Assert.True(File.Exists(Path.Combine(small, "config.json")));
            Assert.Empty(Directory.GetFiles(small, "*.tmp"));
        }
        finally
        {
            Run("umount", small);
        }
    }
}
