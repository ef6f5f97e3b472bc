using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Cifar.Trainer.Native;

/// <summary>
/// Runs CPU work with denormal (subnormal) floats flushed to zero, on the calling thread of the work and on
/// every OpenMP worker thread libtorch uses for it.
/// </summary>
/// <remarks>
/// <para>Why: over a long run, Adam's moment buffers and some weights decay into the denormal range
/// (|x| &lt; 1.2e-38). Processors that handle denormal operands in microcode (Intel's) then slow long runs
/// down several-fold (docs/performance.md, "Long runs and denormal numbers"). PyTorch's cure is
/// <c>torch.set_flush_denormal(True)</c>, which sets the processor's flush-to-zero and denormals-are-zero
/// bits (MXCSR) on the calling thread only.</para>
/// <para>How: the bits are per thread, and a thread inherits them from the thread that creates it. libtorch's
/// intra-op workers are libgomp's, and libgomp keeps one worker team per thread that starts parallel work,
/// created at its first parallel region. So the work runs on a new thread that sets the bits (through libtorch's
/// own <c>at::Context::setFlushDenormal</c>) before anything else: the worker team it then creates inherits them.
/// Setting the bits on a thread whose team already exists would flush on that thread only (a test shows both).</para>
/// <para>Threads that the training thread creates inherit the setting too: among them, thread-pool threads that .NET
/// starts while the training thread queues work (a callback's logging, a task). Their .NET float arithmetic then also
/// treats denormals as zero, as it does after PyTorch's <c>set_flush_denormal</c>.</para>
/// <para>Linux on x86-64 only; elsewhere <see cref="IsSupported"/> is false and work runs as it is.</para>
/// </remarks>
public static class DenormalFlushing
{
    // The training thread's stack: glibc's default for a process's main thread, which libtorch is used to.
    private const int StackBytes = 8 << 20;

    private static readonly Lazy<SetFlushDenormal?> Setter = new(FindSetter);

    /// <summary>
    /// Whether this process can flush denormals: x86-64 Linux with a libtorch that exports
    /// <c>at::Context::setFlushDenormal</c> and a processor that accepts it. The first call loads libtorch.
    /// </summary>
    public static bool IsSupported => Setter.Value is not null;

    /// <summary>
    /// Runs <paramref name="work"/> with denormals flushed when <paramref name="flush"/> is true and
    /// <see cref="IsSupported"/>: on a new thread whose libtorch worker threads inherit the setting. Otherwise runs
    /// it here, as it is.
    /// </summary>
    internal static T Run<T>(bool flush, Func<T> work) =>
        flush && Setter.Value is not null ? RunOnNewThread(work, flush: true) : work();

    /// <summary>
    /// Runs <paramref name="work"/> on a new thread, which first sets flush-to-zero and denormals-are-zero when
    /// <paramref name="flush"/> is true and clears them when false (a thread inherits them from its creator, which may
    /// be a thread-pool thread that a flushed thread created); its exceptions are rethrown here with their stack traces.
    /// </summary>
    internal static T RunOnNewThread<T>(Func<T> work, bool flush)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                SetOnCurrentThread(flush);
                result = work();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        }, StackBytes)
        {
            Name = flush ? "Cifar training (denormals flushed)" : "Cifar training",
            IsBackground = true,
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    /// <summary>
    /// Sets or clears flush-to-zero and denormals-are-zero on the calling thread only (libtorch's worker threads
    /// keep theirs); false when not supported. For tests that show why <see cref="Run{T}"/> needs a new thread.
    /// </summary>
    internal static bool SetOnCurrentThread(bool on)
    {
        if (Setter.Value is not { } set) return false;
        set(on);
        return true;
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.U1)]
    private delegate bool SetFlushDenormal([MarshalAs(UnmanagedType.U1)] bool on);

    private static SetFlushDenormal? FindSetter()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return null;
        _ = TorchSharp.torch.get_num_threads(); // loads libtorch if nothing has yet
        if (Libtorch.LoadedLibraryPath() is not { } path || !NativeLibrary.TryLoad(path, out var library)) return null;
        // static bool at::Context::setFlushDenormal(bool): what torch.set_flush_denormal calls.
        if (!NativeLibrary.TryGetExport(library, "_ZN2at7Context16setFlushDenormalEb", out var address)) return null;
        var set = Marshal.GetDelegateForFunctionPointer<SetFlushDenormal>(address);
        // It answers false where the processor cannot flush; asked on a throwaway thread, which it changes.
        bool accepted = false;
        var probe = new Thread(() => accepted = set(true));
        probe.Start();
        probe.Join();
        return accepted ? set : null;
    }
}
