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
}
