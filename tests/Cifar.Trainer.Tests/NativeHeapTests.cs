using Cifar.Tests;
using Cifar.Trainer.Training;

using static Cifar.Trainer.Tests.TestRuns;

namespace Cifar.Trainer.Tests;

/// <summary>
/// glibc's heap thresholds are the whole process's: training leaves them as they are (an app opts in through
/// <c>TorchRuntime.KeepFreedNativeBuffers</c>; nothing in this test assembly does).
/// </summary>
public class NativeHeapTests
{
    [Fact]
    public void Training_leaves_the_process_heap_thresholds_alone()
    {
        using var train = RandomSet(32, seed: 3);
        using (CnnTrainer.Train(train, null, 3, Run(new TrainingOptions { Epochs = 1, BatchSize = 16, Device = ComputeDevice.Cpu }))) { }
        // Asked of the library, not of glibc: glibc raises its mmap threshold by itself whenever a mapped block is freed,
        // which other tests in this process do, so reading its allocator here would test them.
        Assert.False(NativeHeap.Requested, "training asked glibc to keep freed buffers");
    }

    // Above a thread heap's 64 MiB: a block glibc maps on any thread but the main one, unless they all share its heap.
    private const int AboveAThreadHeap = 80 << 20;

    [Fact]
    public void A_block_above_a_thread_heap_on_a_thread_of_its_own_is_mapped_unless_all_threads_share_the_heap()
    {
        bool? mapped = null;
        var thread = new Thread(() => mapped = GlibcHeap.LargeBlockIsMapped(AboveAThreadHeap)); // as training runs, DenormalFlushing
        thread.Start();
        thread.Join();
        if (mapped is null) Assert.Skip("glibc's allocator on x86-64 Linux only");
        Assert.Equal(!NativeHeap.SharedByAllThreads, mapped);
    }

    [Fact]
    public async Task The_training_heap_settings_serve_a_training_threads_largest_blocks_from_the_heap()
    {
        if (GlibcHeap.LargeBlockIsMapped() is null) Assert.Skip("glibc's allocator on x86-64 Linux only");
        // This assembly again, in a process started with the settings RestartWithTunables gives: the test above, there.
        const string test = nameof(A_block_above_a_thread_heap_on_a_thread_of_its_own_is_mapped_unless_all_threads_share_the_heap);
        var result = await ChildProcess.RunAsync("dotnet", [typeof(NativeHeapTests).Assembly.Location, "--filter-method", $"*.{test}"],
            TimeSpan.FromMinutes(2), new Dictionary<string, string?> { ["GLIBC_TUNABLES"] = NativeHeap.GlibcTunables });
        Assert.True(result.ExitCode == 0, result.Output + result.Errors);
        // The summary's counts, with any colours (terminal escape sequences) taken out: the one test ran, and passed.
        string summary = System.Text.RegularExpressions.Regex.Replace(result.Output, @"\x1b\[[0-9;]*m", "");
        Assert.Matches(@"total: 1\s+failed: 0\s+succeeded: 1\s+skipped: 0", summary);
    }
}
