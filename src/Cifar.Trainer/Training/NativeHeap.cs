using System.Runtime.InteropServices;

namespace Cifar.Trainer.Training;

/// <summary>
/// Keeps libtorch's freed CPU buffers in the process heap instead of handing them back to the OS.
/// </summary>
/// <remarks>
/// libtorch allocates each training step's activations and gradients (several MB each at batch 32, up to
/// 250 MB at the fast recipe's 1,024) with glibc's malloc and frees them at the end of the step. Blocks that
/// size are mmap-ed and returned to the OS on free by default, so every step page-faults them in again, a
/// large share of the step time on a small CPU (counts in docs/performance.md). Raising glibc's mmap
/// threshold, mapping no block (blocks above the threshold's 32 MiB ceiling come from the heap too, up to the
/// 64 MiB of a thread heap on threads other than the main one, where glibc maps larger ones anyway) and
/// never trimming the heap lets the next step reuse the same pages.
/// The cost is that the heap keeps its high-water mark, which training reaches every step anyway.
/// A no-op where glibc's <c>mallopt</c> is not available (musl, Windows, macOS).
/// The thresholds are the whole process's, so the library never sets them on its own: an app opts in
/// through <c>Cifar.MLNet.TorchRuntime.KeepFreedNativeBuffers</c> (the Host's <c>train</c> and the bench do).
/// </remarks>
internal static class NativeHeap
{
    private const int M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_THRESHOLD = -3, M_MMAP_MAX = -4;
    private static int _applied;

    /// <summary>Whether <see cref="KeepFreedBuffers"/> has been called in this process (the seam tests read).</summary>
    internal static bool Requested => Volatile.Read(ref _applied) == 1;

    /// <summary>Whether glibc accepted the settings in this process: freed buffers stay in its heap.</summary>
    public static bool Kept { get; private set; }

    // 32 MiB is glibc's largest mmap threshold on 64-bit, and the fast recipe's activations are larger, so no block is
    // mapped at all (mmap_max 0). The heap is never trimmed (-1): a step frees up to gigabytes at its top at once, which
    // a threshold below that would hand back for the next step to fault in.
    private const int MmapThreshold = 32 << 20, MmapMax = 0, TrimThreshold = -1, TopPad = 64 << 20;

    /// <summary>
    /// The same settings as glibc reads them from the environment when a process starts, for a peer process to run with
    /// (the bench's PyTorch): <c>GLIBC_TUNABLES</c>'s value. There the trim threshold is 16 GiB, beyond any step's buffers.
    /// </summary>
    public static string GlibcTunables =>
        $"glibc.malloc.mmap_threshold={MmapThreshold}:glibc.malloc.mmap_max={MmapMax}:glibc.malloc.trim_threshold={16L << 30}:glibc.malloc.top_pad={TopPad}";

    /// <summary>Applies the settings once per process; returns whether glibc accepted them (false on later calls).</summary>
    public static bool KeepFreedBuffers()
    {
        if (Interlocked.Exchange(ref _applied, 1) == 1 || !OperatingSystem.IsLinux()) return false;
        try
        {
            return Kept = mallopt(M_MMAP_THRESHOLD, MmapThreshold) == 1
                          & mallopt(M_MMAP_MAX, MmapMax) == 1
                          & mallopt(M_TRIM_THRESHOLD, TrimThreshold) == 1
                          & mallopt(M_TOP_PAD, TopPad) == 1;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);
}
