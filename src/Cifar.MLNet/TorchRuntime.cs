using Cifar.Trainer.Native;
using Cifar.Trainer.Training;

namespace Cifar.MLNet;

/// <summary>What trains: the libtorch in use, its version, and the device a choice resolves to.</summary>
/// <param name="LibtorchVersion">The loaded libtorch's version (e.g. <c>2.10.0</c>), or null when not known.</param>
/// <param name="LibtorchDirectory">The folder it was loaded from, or null when not known.</param>
/// <param name="TorchSharpVersion">The TorchSharp version this library uses.</param>
/// <param name="VersionWarning">A one-line warning when that libtorch is not the version TorchSharp is built for, else null.</param>
/// <param name="CanFlushDenormals">Whether <see cref="TrainingOptions.FlushDenormals"/> takes effect on this platform.</param>
public sealed record TorchRuntimeInfo(string? LibtorchVersion, string? LibtorchDirectory, string TorchSharpVersion,
    string? VersionWarning, bool CanFlushDenormals)
{
    /// <summary>
    /// Why libtorch's CPU kernels (oneDNN) are limited in this process, where the processor's own would compute wrong
    /// results (a processor that describes no caches): to AVX-512 without bfloat16, with the library's convolutions padded
    /// to whole vectors, or to AVX; null where they are not.
    /// </summary>
    public string? CpuKernelLimit { get; init; }

    /// <summary>
    /// Whether libtorch backs its large CPU buffers with transparent huge pages in this process: the library sets
    /// <c>THP_MEM_ALLOC_ENABLE=1</c> unless the user set it, and the kernel gives them on request (docs/performance.md).
    /// </summary>
    public bool HugePages { get; init; }

    /// <summary>Whether glibc keeps freed native buffers for reuse in this process (<see cref="TorchRuntime.KeepFreedNativeBuffers"/> was called and took).</summary>
    public bool KeepsFreedNativeBuffers { get; init; }

    /// <summary>
    /// Whether every thread of this process allocates from glibc's main heap, so that the training thread's blocks above
    /// 64 MiB are kept too: it started with <c>glibc.malloc.arena_max=1</c> in <c>GLIBC_TUNABLES</c>
    /// (<see cref="TorchRuntime.RestartWithTrainingHeap"/>).
    /// </summary>
    public bool OneNativeHeap { get; init; }

    /// <summary>"libtorch 2.10.0 (folder), TorchSharp 0.107.0".</summary>
    public override string ToString() =>
        (LibtorchVersion is null ? "libtorch (folder unknown)" : $"libtorch {LibtorchVersion}" + (LibtorchDirectory is null ? "" : $" ({LibtorchDirectory})"))
        + $", TorchSharp {TorchSharpVersion}";
}

/// <summary>Where and how a run trains, resolved on this machine: what <c>train</c> reports and its result files record.</summary>
/// <param name="Device">The device: <c>cpu</c> or <c>cuda</c>.</param>
/// <param name="Precision">The precision of the training passes, <see cref="TrainingPrecision.Auto"/> resolved.</param>
/// <param name="PrecisionReason">Why that precision (the setting, or what <c>Auto</c> found).</param>
/// <param name="Threads">The threads libtorch computes with on the CPU (its intra-op pool).</param>
public sealed record TrainingSetup(string Device, TrainingPrecision Precision, string PrecisionReason, int Threads)
{
    /// <summary>
    /// How convolutions' input gradients are computed, <see cref="TrainingOptions.ConvolutionInputGradient"/> as it applies
    /// on <see cref="Device"/> (a GPU keeps libtorch's kernels). Default <see cref="ConvolutionInputGradient.Libtorch"/>.
    /// </summary>
    public ConvolutionInputGradient InputGradient { get; init; } = ConvolutionInputGradient.Libtorch;

    /// <summary>"device cpu, precision BFloat16 (Auto: …), 2 libtorch threads[, input gradients by flipped filters]".</summary>
    public override string ToString() =>
        $"device {Device}, precision {Precision} ({PrecisionReason}), {Threads} libtorch thread{(Threads == 1 ? "" : "s")}"
        + (InputGradient == ConvolutionInputGradient.FlippedFilters ? ", input gradients by flipped filters" : "");
}

/// <summary>
/// The process's libtorch: where it is loaded from, and which device a <see cref="ComputeDevice"/> choice means.
/// Prediction through a saved model never needs it.
/// </summary>
public static class TorchRuntime
{
    /// <summary>
    /// Loads libtorch from <paramref name="directory"/> (e.g. a PyTorch install's <c>torch/lib</c>, a CUDA build for
    /// the GPU) for everything that trains next. Call it before anything trains, in an app built without a bundled
    /// libtorch (<c>-p:TorchBackend=none</c>).
    /// </summary>
    /// <exception cref="LibtorchLoadException">The folder has no usable libtorch; the message is one line.</exception>
    public static void UseLibraryDirectory(string directory) => Libtorch.UseDirectory(directory);

    /// <summary>
    /// Makes glibc keep freed native buffers in the heap for reuse instead of returning them to the OS: a faster CPU
    /// training step. Process-wide and not undone, so the library never does it on its own: an app that trains on the
    /// CPU calls it once at start (as <c>cifar train</c> does).
    /// </summary>
    /// <remarks>
    /// <para>What it changes: glibc's <c>mallopt</c> thresholds for the whole process, for every native allocation and not
    /// only libtorch's: no block gets a mapping of its own where glibc lets the heap serve it (the mmap threshold at 32
    /// MiB and the number of mappings at 0; on threads other than the main one glibc still maps blocks above its 64 MiB
    /// thread heaps), the heap is never trimmed and its top pad is 64 MiB (freed memory stays with the process).</para>
    /// <para>Why: libtorch allocates each step's activations and gradients (several MB each at batch 32, up to 250 MB at
    /// the fast recipe's 1,024) with malloc and frees them at the end of the step; by default blocks that size are mapped
    /// and unmapped each time, so every step page-faults them in again. On a 2-core CPU the tutorial's step took 1.1–2.0
    /// million page faults per 100 steps and ran 730–800 images/s; with these settings, 74 thousand faults and 950–975
    /// images/s; the fast recipe's float32 step took about 10 % less time (docs/performance.md). The cost: the process
    /// keeps the heap's high-water mark (which a training step reaches every step anyway; 15 % above a mapped run's peak
    /// for the fast recipe) until it ends.</para>
    /// <para>Linux with glibc only; elsewhere (Windows, macOS, musl) it does nothing and returns false. Only the first call
    /// in a process acts.</para>
    /// </remarks>
    /// <returns>Whether this call set the thresholds (false on later calls and where glibc's <c>mallopt</c> is missing).</returns>
    public static bool KeepFreedNativeBuffers() => NativeHeap.KeepFreedBuffers();

    /// <summary>
    /// Starts this process again in place, with glibc's heap set up for CPU training from its first allocation: the
    /// settings of <see cref="KeepFreedNativeBuffers"/>, and one heap for all threads. Call it first thing in <c>Main</c>,
    /// before any output, in an app whose process trains on the CPU (<c>cifar train</c> does). It returns only where it did
    /// not restart.
    /// </summary>
    /// <remarks>
    /// <para>Why: training runs on a thread of its own (<see cref="TrainingOptions.FlushDenormals"/>), and glibc gives every
    /// thread but the main one heaps of at most 64 MiB; larger blocks (the fast recipe's activations reach 250 MB at batch
    /// 1,024, twice that at 2,000) are mapped and unmapped each step whatever <see cref="KeepFreedNativeBuffers"/> set.
    /// Which heap a thread uses is fixed when the process starts (<c>GLIBC_TUNABLES</c>'s <c>glibc.malloc.arena_max=1</c>),
    /// hence the restart. The fast recipe's float32 step took about 10 % less processor time with it
    /// (docs/performance.md).</para>
    /// <para>How: Linux's <c>execv</c> of <c>/proc/self/exe</c> with the arguments the process started with and
    /// <c>GLIBC_TUNABLES</c> added to its environment: the same process id, standard streams and environment otherwise.
    /// A process started with <c>GLIBC_TUNABLES</c> already set (the restarted one, or a user's own settings, even empty)
    /// is left as it is. Elsewhere (Windows, macOS, musl) it does nothing. <see cref="TorchRuntimeInfo.OneNativeHeap"/>
    /// says whether the process runs with one heap.</para>
    /// </remarks>
    /// <returns>False: it did not restart (where it does, it does not return).</returns>
    public static bool RestartWithTrainingHeap() => NativeHeap.RestartWithTunables();

    /// <summary>
    /// The device, precision and threads <paramref name="training"/> resolves to on this machine. Loads libtorch.
    /// </summary>
    /// <exception cref="InvalidOperationException">CUDA was demanded but libtorch sees no GPU.</exception>
    /// <exception cref="LibtorchLoadException">No usable libtorch; the message says what to do.</exception>
    public static TrainingSetup DescribeTraining(TrainingOptions training)
    {
        var device = DeviceSelector.Resolve(training.Device).type;
        return new TrainingSetup(device.ToString().ToLowerInvariant(), training.PrecisionOn(device), training.PrecisionReason(device),
            TorchSharp.torch.get_num_threads()) { InputGradient = training.InputGradientOn(device) };
    }

    /// <summary>The loaded libtorch (call after <see cref="DescribeTraining"/>, which loads it).</summary>
    public static TorchRuntimeInfo Describe()
    {
        var loaded = Libtorch.Loaded();
        return new TorchRuntimeInfo(loaded?.Version, loaded?.Directory, Libtorch.TorchSharpVersion, loaded?.VersionWarning,
            DenormalFlushing.IsSupported)
        {
            CpuKernelLimit = OneDnnIsa.Limit,
            HugePages = Cifar.Trainer.Native.HugePages.InUse,
            KeepsFreedNativeBuffers = NativeHeap.Kept,
            OneNativeHeap = NativeHeap.SharedByAllThreads,
        };
    }
}
