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
/// <para>Containment: the bits are the process's business only on that thread and its libtorch workers. The caller's
/// thread is never changed (the work runs elsewhere), and the training thread restores the bits it inherited before it
/// ends, on every path. Threads that the training thread creates would inherit the bits too, among them thread-pool
/// threads that .NET starts while a thread queues work (a callback's logging, a task), which would then treat
/// denormals as zero in all their later .NET arithmetic. So calls out to the caller's code (<see cref="CallerCode"/>:
/// the training callbacks) run with the caller's own setting, restored to flushing when they return or throw.
/// libtorch work a callback does runs partly flushed: its workers keep the setting.</para>
/// <para>Linux on x86-64 only; elsewhere <see cref="IsSupported"/> is false and work runs as it is.</para>
/// </remarks>
internal static class DenormalFlushing
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
    internal static T Run<T>(bool flush, Func<T> work) => Run(flush, _ => work());

    /// <summary>
    /// As <see cref="Run{T}(bool, Func{T})"/>, giving <paramref name="work"/> the <see cref="CallerCode"/> through
    /// which it calls the caller's code (callbacks) with the caller's setting.
    /// </summary>
    internal static T Run<T>(bool flush, Func<CallerCode, T> work)
    {
        if (!flush || Setter.Value is null) return work(CallerCode.AsItIs);
        // Read here, on the caller's thread: what its code expects while the work calls it back.
        var caller = new CallerCode(callerFlushes: FlushesOnCurrentThread());
        return RunOnNewThread(() => work(caller), flush: true);
    }

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
            bool inherited = FlushesOnCurrentThread();
            try
            {
                SetOnCurrentThread(flush);
                result = work();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                // What runs on the thread after the work (the runtime's thread-exit code) sees the bits it started with.
                SetOnCurrentThread(inherited);
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
    /// keep theirs); false when not supported. For tests that show why <see cref="Run{T}(bool, Func{T})"/> needs a new thread.
    /// </summary>
    internal static bool SetOnCurrentThread(bool on)
    {
        if (Setter.Value is not { } set) return false;
        set(on);
        return true;
    }

    // ≈ 1.0e-39, a denormal, in a mutable field: the JIT cannot fold the probe's sum into a constant.
    private static int _denormalBits = 0x000AE398;

    /// <summary>
    /// Whether the calling thread flushes denormals: a denormal doubled is zero with flush-to-zero or denormals-are-zero
    /// on (.NET's float arithmetic on x64 is the processor's SSE arithmetic, which the bits govern).
    /// </summary>
    internal static bool FlushesOnCurrentThread()
    {
        float d = BitConverter.Int32BitsToSingle(Volatile.Read(ref _denormalBits));
        return d + d == 0f;
    }

    /// <summary>
    /// How flushed work calls its caller's code (the training callbacks): with the setting of the caller's thread, so that
    /// the caller's code, and any thread it starts (a thread-pool thread, a logger's), computes as it would have without
    /// the work, and back to flushing when the call returns or throws.
    /// </summary>
    internal sealed class CallerCode
    {
        /// <summary>For work that does not flush: calls go out as they are.</summary>
        internal static readonly CallerCode AsItIs = new(callerFlushes: true);

        private readonly bool _callerFlushes;

        internal CallerCode(bool callerFlushes) => _callerFlushes = callerFlushes;

        /// <summary><paramref name="callback"/>, called with the caller's setting (itself when that is flushing too, or null).</summary>
        internal Action<TArgument>? Wrap<TArgument>(Action<TArgument>? callback)
        {
            if (callback is null || _callerFlushes) return callback;
            return argument =>
            {
                SetOnCurrentThread(false);
                try
                {
                    callback(argument);
                }
                finally
                {
                    SetOnCurrentThread(true);
                }
            };
        }
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
