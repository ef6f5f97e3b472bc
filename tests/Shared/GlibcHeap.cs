using System.Runtime.InteropServices;

namespace Cifar.Tests;

/// <summary>
/// Reads which of glibc's allocators serves a large block: its own mapping or the heap. glibc offers no call that reads
/// its thresholds back, but every chunk's size word (just before the pointer malloc returns) carries an IS_MMAPPED bit.
/// </summary>
public static class GlibcHeap
{
    // Just under glibc's largest mmap threshold (32 MiB), where TorchRuntime.KeepFreedNativeBuffers sets it: mapped by
    // default, from the heap once the thresholds are raised. (glibc also raises the threshold by itself to the size of a
    // mapped block freed, but only blocks this large, which the tests here do not allocate and free, reach this size.)
    private const int ProbeBytes = (32 << 20) - (64 << 10);
    private const long IsMmapped = 0x2;

    /// <summary>
    /// Whether any of <paramref name="count"/> blocks of <paramref name="bytes"/> each, held at once, gets a mapping of its
    /// own (by default one block just under 32 MiB); null where the allocator is not glibc's on x86-64 Linux. Several
    /// blocks outgrow the free space at the heap's top, where a block is served without a threshold being consulted.
    /// </summary>
    public static bool? LargeBlockIsMapped(int bytes = ProbeBytes, int count = 1)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return null;
        if (!NativeLibrary.TryLoad("libc.so.6", out var libc) || !NativeLibrary.TryGetExport(libc, "gnu_get_libc_version", out _)) return null;
        var blocks = new List<nint>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var block = malloc(bytes);
                if (block == 0) return null;
                blocks.Add(block);
            }
            return blocks.Any(block => (Marshal.ReadInt64(block - 8) & IsMmapped) != 0);
        }
        finally
        {
            blocks.ForEach(free);
        }
    }

    [DllImport("libc", EntryPoint = "malloc")]
    private static extern nint malloc(nint size);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void free(nint block);
}
