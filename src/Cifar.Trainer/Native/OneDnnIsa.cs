using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Cifar.Trainer.Native;

/// <summary>
/// Keeps libtorch's oneDNN kernels correct on processors that describe no caches: there its AVX2 and AVX-512
/// convolutions compute wrong results where a channel count is not a multiple of the vector width, so oneDNN is limited
/// before it first runs, to AVX-512 (with its bfloat16 kernels where the processor has them) with this library's
/// convolutions padded to whole vectors where the processor has AVX-512, else to AVX.
/// </summary>
/// <remarks>
/// <para>oneDNN sizes its convolution blocking from the cache sizes CPUID reports (leaf 4 on Intel, 0x8000001D on
/// AMD). Some virtual machines report none (all zeros; <c>lscpu</c> then lists no caches). On such a machine (AMD EPYC,
/// family 26, under a PVM hypervisor) libtorch 2.10's oneDNN 3.7 and PyTorch 2.6's gave float32 convolutions off by
/// 15–50 % and bfloat16 ones off or NaN wherever a channel count is not a multiple of the vector width (AVX-512: 16,
/// e.g. AirbenchNet's 24 whitening filters; AVX2: 8), and the fast recipe diverged at its first step. Its AVX kernels
/// agreed with a float64 reference on every shape tried (1,152 convolutions, forward and both gradients), and so did its
/// AVX-512 ones, float32 and bfloat16, wherever both channel counts were multiples of 16; its bfloat16 matrix products
/// were right on every shape tried.</para>
/// <para>So where the processor has AVX-512 the limit is <c>AVX512_CORE_BF16</c> where it also has AVX-512 BF16 (float32
/// kernels about twice AVX's speed there, bfloat16 ones 3 to 4 times), else <c>AVX512_CORE</c>, and
/// <see cref="ChannelPadding"/> pads every convolution of this library's networks to whole 16-channel vectors
/// (<see cref="ChannelMultiple"/>); elsewhere it is AVX. <see cref="CpuKernelCheck"/> checks the padded convolutions
/// against float64 before every CPU run, in the run's precision. Convolutions that other code runs in the same process are
/// not padded: such code should set <c>ONEDNN_MAX_CPU_ISA=AVX</c> itself on these machines.</para>
/// <para>The limit is oneDNN's own setting, <c>ONEDNN_MAX_CPU_ISA</c>, read once when oneDNN first runs: it is set in
/// the process's environment when this assembly loads, before anything of it can reach libtorch, and only when the
/// user has not set it (or the older <c>DNNL_MAX_CPU_ISA</c>). Child processes inherit it.</para>
/// </remarks>
internal static class OneDnnIsa
{
    /// <summary>
    /// The instruction set oneDNN is limited to where the processor describes no caches (with <see cref="ChannelPadding"/>
    /// above AVX): <c>AVX512_CORE_BF16</c> where the processor has AVX-512 and its bfloat16 instructions,
    /// <c>AVX512_CORE</c> where it has AVX-512 without them, else <c>AVX</c>.
    /// </summary>
    public static string SafeIsa => SafeIsaFor(HasAvx512Core, CpuFeatures.ProcessorHasBFloat16);

    internal static string SafeIsaFor(bool avx512, bool bfloat16) => !avx512 ? "AVX" : bfloat16 ? "AVX512_CORE_BF16" : "AVX512_CORE";

    /// <summary>oneDNN's own setting of the instruction set it may use.</summary>
    public const string Variable = "ONEDNN_MAX_CPU_ISA";

    /// <summary>Whether the processor has what oneDNN's AVX512_CORE needs: AVX-512 F, BW, DQ and VL.</summary>
    internal static bool HasAvx512Core => Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported;

    /// <summary>
    /// Why oneDNN was limited in this process, a sentence for the run's report; null where it runs as it chooses.
    /// </summary>
    public static string? Limit { get; private set; }

    // A module initializer because no later hook is sure to come before oneDNN's first run: any of this library's
    // entry points can be the first to reach libtorch.
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "must run before libtorch's first use, from any entry point")]
    internal static void LimitWhereCachesAreUndescribed()
    {
        if (!OperatingSystem.IsLinux() || !X86Base.IsSupported) return;
        if (!ShouldLimit(DescribesCaches(), Chosen)) return;
        if (!NativeEnvironment.Set(Variable, SafeIsa)) return;
        Limit = HasAvx512Core
            ? $"oneDNN limited to {SafeIsa}{(AllowsNativeBFloat16 ? "" : " (no bfloat16 kernels)")} and convolutions padded to multiples of {ChannelMultiple} channels: "
              + "this processor describes no caches (CPUID), with which oneDNN's AVX-512 convolutions of other channel counts compute "
              + "wrong results (ONEDNN_MAX_CPU_ISA overrides)"
            : $"oneDNN limited to {SafeIsa}: this processor describes no caches (CPUID), with which oneDNN's AVX2 and AVX-512 "
              + "convolutions compute wrong results (ONEDNN_MAX_CPU_ISA overrides)";
    }

    /// <summary>
    /// The channel counts this library's convolutions are padded to multiples of on the CPU (<see cref="ChannelPadding"/>):
    /// where the processor describes no caches and oneDNN may use vectors wider than AVX's, their width in floats (16 for
    /// AVX-512, 8 for AVX2); else 1 (no padding). Read once: oneDNN reads its limit once too.
    /// </summary>
    public static int ChannelMultiple => LazyChannelMultiple.Value;

    private static readonly Lazy<int> LazyChannelMultiple = new(() =>
        !OperatingSystem.IsLinux() || !X86Base.IsSupported || DescribesCaches() ? 1 : ChannelMultipleUnder(Chosen, HasAvx512Core, Avx2.IsSupported));

    /// <summary>
    /// Whether oneDNN may use AVX-512 in this process: the processor has it, and no limit below it is set. Read once, as
    /// oneDNN reads its limit.
    /// </summary>
    public static bool MayUseAvx512 => LazyMayUseAvx512.Value;

    private static readonly Lazy<bool> LazyMayUseAvx512 = new(() => HasAvx512Core && AllowsAvx512Under(Chosen));

    /// <summary>Whether the limit <paramref name="isa"/> (null: none) lets oneDNN use AVX-512: none, <c>ALL</c>, <c>AVX512…</c> or <c>AVX10…</c>.</summary>
    internal static bool AllowsAvx512Under([NotNullWhen(false)] string? isa) => NoLimitOrFrom(isa, "AVX512", "AVX10");

    /// <summary>
    /// The vector width in floats that oneDNN's kernels use under the limit <paramref name="isa"/> (null: none), on a
    /// processor with or without AVX-512 and AVX2; 1 at AVX or below.
    /// </summary>
    internal static int ChannelMultipleUnder(string? isa, bool avx512, bool avx2)
    {
        int widest = avx512 ? 16 : avx2 ? 8 : 1;
        if (AllowsAvx512Under(isa)) return widest;
        return isa.StartsWith("AVX2", StringComparison.OrdinalIgnoreCase) && avx2 ? 8 : 1;
    }

    /// <summary>
    /// The instruction-set limit oneDNN reads in this process: <c>ONEDNN_MAX_CPU_ISA</c>, else the older
    /// <c>DNNL_MAX_CPU_ISA</c> (the first that is set and not empty); null where neither is, and oneDNN uses all it finds.
    /// </summary>
    public static string? Chosen =>
        NonEmpty(Environment.GetEnvironmentVariable(Variable)) ?? NonEmpty(Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA"));

    /// <summary>
    /// Whether oneDNN may use its native bfloat16 kernels under <see cref="Chosen"/>: no limit, <c>ALL</c>, or an
    /// instruction set from AVX-512 BF16 up (with AMX, FP16 or AVX10).
    /// </summary>
    public static bool AllowsNativeBFloat16 => AllowsNativeBFloat16Under(Chosen);

    internal static bool AllowsNativeBFloat16Under(string? isa) => NoLimitOrFrom(isa, "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX10");

    // No limit, ALL, or a limit whose name starts with one of the prefixes: oneDNN's names grow by suffix as the sets
    // grow (AVX512_CORE, AVX512_CORE_VNNI, AVX512_CORE_BF16, ...).
    private static bool NoLimitOrFrom([NotNullWhen(false)] string? isa, params string[] prefixes) =>
        isa is null || isa.Equals("ALL", StringComparison.OrdinalIgnoreCase) || prefixes.Any(p => isa.StartsWith(p, StringComparison.OrdinalIgnoreCase));

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    /// <summary>Whether to limit oneDNN: the caches are undescribed and the user chose no instruction set.</summary>
    internal static bool ShouldLimit(bool describesCaches, string? userSetting) => !describesCaches && string.IsNullOrEmpty(userSetting);

    /// <summary>
    /// Whether CPUID describes a first cache in either leaf oneDNN reads: 4 (Intel's) or 0x8000001D (AMD's topology
    /// extensions). A leaf beyond the processor's range describes nothing.
    /// </summary>
    internal static bool DescribesCaches() => DescribesCache(4, X86Base.CpuId(0, 0).Eax)
                                              || DescribesCache(unchecked((int)0x8000001D), X86Base.CpuId(unchecked((int)0x80000000), 0).Eax);

    // EAX bits 4:0 of the leaf's index 0: the first cache's type, 0 = none.
    private static bool DescribesCache(int leaf, int highestLeaf) =>
        (uint)leaf <= (uint)highestLeaf && (X86Base.CpuId(leaf, 0).Eax & 0x1F) != 0;
}
