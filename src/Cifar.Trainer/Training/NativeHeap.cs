using System.Runtime.InteropServices;
using Cifar.Trainer.Native;

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
/// <para>Blocks above 64 MiB on the training thread (a thread of its own, <c>DenormalFlushing</c>) come from the heap only
/// where all threads share glibc's main heap, which glibc decides when a process starts (<c>GLIBC_TUNABLES</c>'s
/// <c>glibc.malloc.arena_max=1</c>): <see cref="RestartWithTunables"/> starts the process again with
/// <see cref="GlibcTunables"/>.</para>
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

    private const string TunablesVariable = "GLIBC_TUNABLES", OneHeapForAllThreads = "glibc.malloc.arena_max=1";

    /// <summary>
    /// The same settings as glibc reads them from the environment when a process starts (<c>GLIBC_TUNABLES</c>'s value),
    /// for <see cref="RestartWithTunables"/> and a peer process (the bench's PyTorch). There the trim threshold is 16 GiB,
    /// beyond any step's buffers, and every thread allocates from the main heap (one arena): a thread's own heap holds at
    /// most 64 MiB, and glibc maps any larger block, whatever the thresholds say.
    /// </summary>
    public static string GlibcTunables =>
        $"glibc.malloc.mmap_threshold={MmapThreshold}:glibc.malloc.mmap_max={MmapMax}:glibc.malloc.trim_threshold={16L << 30}:glibc.malloc.top_pad={TopPad}:{OneHeapForAllThreads}";

    /// <summary>
    /// Whether every thread of this process allocates from glibc's main heap: it started with
    /// <c>glibc.malloc.arena_max=1</c> in <c>GLIBC_TUNABLES</c> (<see cref="RestartWithTunables"/>'s, or the user's own).
    /// </summary>
    public static bool SharedByAllThreads =>
        OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable(TunablesVariable) is { } tunables
                                  && tunables.Split(':').Contains(OneHeapForAllThreads);

    /// <summary>
    /// Starts this process again in place (<c>execv</c> of <c>/proc/self/exe</c> with the arguments it started with: the
    /// same process id, standard streams and environment) with <c>GLIBC_TUNABLES</c> set to <see cref="GlibcTunables"/>,
    /// where it started without that variable. Returns (false) only where it did not: the variable is set (the user's
    /// settings, or this is the process started again), not Linux, or the restart failed, when the process goes on as it is.
    /// Call it before the process does anything it would do twice.
    /// </summary>
    public static bool RestartWithTunables()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(TunablesVariable) is not null) return false;
        byte[] commandLine;
        try
        {
            commandLine = File.ReadAllBytes("/proc/self/cmdline");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        if (!NativeEnvironment.Set(TunablesVariable, GlibcTunables)) return false;
        // The process started again sets oneDNN's limit itself, and so can say why; inherited, the limit would pass for the
        // user's own choice there.
        bool limited = OneDnnIsa.Limit is not null;
        if (limited) NativeEnvironment.Remove(OneDnnIsa.Variable);
        // The arguments byte for byte, each with its terminating zero as the kernel gave them, and a null after the last.
        var arguments = new List<nint>();
        try
        {
            for (int start = 0, end; start < commandLine.Length; start = end + 1)
            {
                end = Array.IndexOf(commandLine, (byte)0, start);
                if (end < 0) end = commandLine.Length;
                var argument = Marshal.AllocHGlobal(end - start + 1);
                Marshal.Copy(commandLine, start, argument, end - start);
                Marshal.WriteByte(argument, end - start, 0);
                arguments.Add(argument);
            }
            arguments.Add(0);
            RemoveDiagnosticsSocket();
            Console.Out.Flush();
            Console.Error.Flush();
            execv("/proc/self/exe", [.. arguments]);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { }
        finally
        {
            arguments.ForEach(Marshal.FreeHGlobal);
        }
        NativeEnvironment.Remove(TunablesVariable); // the process goes on as it started: nothing claims what did not happen
        // Without its limit back, oneDNN would compute wrong convolutions here: better not to go on.
        if (limited && !NativeEnvironment.Set(OneDnnIsa.Variable, OneDnnIsa.SafeIsa))
            throw new InvalidOperationException($"could not set {OneDnnIsa.Variable} again after a failed restart");
        return false;
    }

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

    // .NET's diagnostics server listens on a socket in the temporary folder, named after the process id and its start time,
    // and removes it when the runtime shuts down, which an exec skips. The restarted runtime makes its own under the same
    // name (the same process) and removes that one at its end; this one's would be left behind.
    private static void RemoveDiagnosticsSocket()
    {
        try
        {
            foreach (var socket in Directory.EnumerateFiles(Path.GetTempPath(), $"dotnet-diagnostic-{Environment.ProcessId}-*-socket"))
                File.Delete(socket);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    [DllImport("libc", EntryPoint = "execv", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int execv(string path, nint[] arguments);

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);
}
