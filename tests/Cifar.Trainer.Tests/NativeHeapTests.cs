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
        Assert.False(NativeHeap.Requested, "training asked glibc to keep freed buffers");
        // And glibc says so too, where it can be read: a block just under 32 MiB still gets its own mapping.
        if (GlibcHeap.LargeBlockIsMapped() is { } mapped) Assert.True(mapped, "a 32 MiB block came from the heap: the mmap threshold was raised");
    }
}
