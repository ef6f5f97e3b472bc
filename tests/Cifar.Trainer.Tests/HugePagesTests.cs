using Cifar.Trainer.Native;
using static TorchSharp.torch;

namespace Cifar.Trainer.Tests;

/// <summary>
/// <see cref="HugePages"/>: libtorch backs a large CPU buffer with transparent huge pages where the kernel offers them on
/// request (<c>madvise</c> or <c>always</c>), instead of faulting it in 4 KiB pages.
/// </summary>
public class HugePagesTests
{
    [Fact]
    public void A_64_MiB_tensor_is_backed_by_huge_pages_where_the_kernel_offers_them()
    {
        // Set here unless this process was started with the variable set (which the library leaves as it is).
        if (!HugePages.SetBeforeLoad) Assert.Equal("1", Environment.GetEnvironmentVariable(HugePages.Variable));
        if (!HugePages.InUse)
            Assert.Skip($"no huge pages to see: {HugePages.Variable}={Environment.GetEnvironmentVariable(HugePages.Variable)}, the kernel's mode {HugePages.KernelMode}");
        string mode = HugePages.KernelMode;
        GC.Collect(); // no other test's large tensor freed by a finalizer while this one is measured
        GC.WaitForPendingFinalizers();
        long before = AnonHugePagesKiB(), fallbacksBefore = FaultFallbacks();
        using var buffer = ones(16 << 20); // 64 MiB, written
        long grown = AnonHugePagesKiB() - before;
        Assert.True(grown >= 32 << 10, $"huge pages grew by {grown} KiB for a 64 MiB tensor (transparent huge pages: {mode}; " +
                                       $"{FaultFallbacks() - fallbacksBefore} faults fell back to small pages meanwhile)");
        using var sum = buffer.sum();
        Assert.Equal(16 << 20, sum.item<float>());
    }

    private static long AnonHugePagesKiB() => File.ReadLines("/proc/self/smaps_rollup")
        .Where(line => line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
        .Sum(line => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]));

    private static long FaultFallbacks() => File.ReadLines("/proc/vmstat")
        .Where(line => line.StartsWith("thp_fault_fallback ", StringComparison.Ordinal))
        .Sum(line => long.Parse(line.Split(' ')[1]));
}
