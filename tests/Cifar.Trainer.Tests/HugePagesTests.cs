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
        Assert.Equal("1", Environment.GetEnvironmentVariable(HugePages.Variable));
        string mode = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled");
        long before = AnonHugePagesKiB();
        using var buffer = ones(16 << 20); // 64 MiB, written
        long grown = AnonHugePagesKiB() - before;
        if (mode.Contains("[never]")) Assert.Equal(0, grown); // the kernel gives none: nothing to test beyond the switch
        else Assert.True(grown >= 32 << 10, $"huge pages grew by {grown} KiB for a 64 MiB tensor (transparent huge pages: {mode.Trim()})");
        Assert.Equal(16 << 20, buffer.sum().item<float>());
    }

    private static long AnonHugePagesKiB() => File.ReadLines("/proc/self/smaps_rollup")
        .Where(line => line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
        .Sum(line => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]));
}
