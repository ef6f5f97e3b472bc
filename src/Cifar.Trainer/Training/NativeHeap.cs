using System.Runtime.InteropServices;

namespace Cifar.Trainer.Training;

/// <summary>
/// Keeps libtorch's freed CPU buffers in the process heap instead of handing them back to the OS.
/// </summary>
/// <remarks>
/// libtorch allocates each training step's activations and gradients (several MB each at batch 32)
/// with glibc's malloc and frees them at the end of the step. Blocks that size are mmap-ed and
/// returned to the OS on free by default, so every step page-faults them in again, a large share of the
/// step time on a small CPU (counts in docs/performance.md). Raising glibc's mmap and trim thresholds
/// lets the next step reuse the same pages.
/// The cost is that the heap keeps its high-water mark, which training reaches every step anyway.
/// A no-op where glibc's <c>mallopt</c> is not available (musl, Windows, macOS).
/// The thresholds are the whole process's, so the library never sets them on its own: an app opts in
/// through <c>Cifar.MLNet.TorchRuntime.KeepFreedNativeBuffers</c> (the Host's <c>train</c> and the bench do).
/// </remarks>
internal static class NativeHeap
{
    private const int M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_THRESHOLD = -3;
    private static int _applied;

    /// <summary>Whether <see cref="KeepFreedBuffers"/> has been called in this process (the seam tests read).</summary>
    internal static bool Requested => Volatile.Read(ref _applied) == 1;

    /// <summary>Applies the thresholds once per process; returns whether glibc accepted them (false on later calls).</summary>
    public static bool KeepFreedBuffers()
    {
        if (Interlocked.Exchange(ref _applied, 1) == 1 || !OperatingSystem.IsLinux()) return false;
        try
        {
            // 32 MiB is glibc's largest mmap threshold on 64-bit; blocks below it come from the heap.
            return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
                   & mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1
                   & mallopt(M_TOP_PAD, 64 << 20) == 1;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);
}
