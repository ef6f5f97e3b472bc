using System.Runtime.CompilerServices;

namespace Cifar.Trainer.Native;

/// <summary>
/// Has libtorch back its large CPU buffers (2 MiB and more) with transparent huge pages, so that the fast recipe's
/// activations, hundreds of MB a step, are not page-faulted in 4 KiB at a time every step.
/// </summary>
/// <remarks>
/// <para>libtorch's CPU allocator asks the kernel for huge pages for such buffers (<c>madvise(MADV_HUGEPAGE)</c>) when
/// <c>THP_MEM_ALLOC_ENABLE=1</c>, which it reads once, at its first allocation; by default it does not. Above glibc's
/// 32 MiB mmap ceiling every buffer is a fresh mapping, faulted in page by page each step: on a 2-core AMD EPYC (family 26, under a PVM hypervisor) 3.5 million faults in 3 fast-recipe steps, and the
/// float32 step took 14.0 s instead of 8.1 s with huge pages (150 thousand faults), and under memory-churning load
/// 16.5–18.5 s of processor time instead of 29.7–32.4. Only where buffers live changes, not the arithmetic. Where the
/// kernel's transparent huge pages are off (<c>never</c>) nothing changes; <c>THP_MEM_ALLOC_ENABLE=0</c> opts out
/// (docs/performance.md: on another machine under heavy load, compaction made huge pages cost more than they saved).</para>
/// <para>Set when this assembly loads, before anything of it reaches libtorch, unless the variable was set (to 0 or 1;
/// libtorch reads other values as off). Child processes inherit it.</para>
/// </remarks>
internal static class HugePages
{
    /// <summary>libtorch's switch for huge-page-backed CPU buffers.</summary>
    public const string Variable = "THP_MEM_ALLOC_ENABLE";

    /// <summary>
    /// Whether <see cref="Variable"/> was set before this assembly loaded (then it was left as it was): by the user, or
    /// inherited from a parent process that loaded it.
    /// </summary>
    public static bool SetBeforeLoad { get; private set; }

    private const string KernelSetting = "/sys/kernel/mm/transparent_hugepage/enabled";

    /// <summary>
    /// The kernel's transparent-huge-page mode, as its setting file shows it (<c>always [madvise] never</c>: the chosen
    /// one in brackets); <c>[never]</c> where the kernel has no such file (no transparent huge pages, or not Linux).
    /// </summary>
    public static string KernelMode => File.Exists(KernelSetting) ? File.ReadAllText(KernelSetting).Trim() : "[never]";

    /// <summary>
    /// Whether libtorch asks for huge pages in this process (<see cref="Variable"/> is 1) and the kernel gives them on
    /// request (its mode is <c>always</c> or <c>madvise</c>).
    /// </summary>
    public static bool InUse => Environment.GetEnvironmentVariable(Variable) == "1" && !KernelMode.Contains("[never]", StringComparison.Ordinal);

    // A module initializer because any of this library's entry points can be the first to reach libtorch.
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "must run before libtorch's first allocation, from any entry point")]
    internal static void EnableUnlessChosen()
    {
        SetBeforeLoad = Environment.GetEnvironmentVariable(Variable) is not null;
        if (OperatingSystem.IsLinux() && !SetBeforeLoad) NativeEnvironment.Set(Variable, "1");
    }
}
