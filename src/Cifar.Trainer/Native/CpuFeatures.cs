namespace Cifar.Trainer.Native;

/// <summary>What this machine's processor can do, as the kernel reports it.</summary>
internal static class CpuFeatures
{
    /// <summary>
    /// Whether the processor computes in bfloat16 natively (AVX-512 BF16 or AMX-BF16), as <c>/proc/cpuinfo</c> lists:
    /// elsewhere libtorch emulates bfloat16 and it is slower than float32. False where there is no such file.
    /// </summary>
    public static bool ProcessorHasBFloat16 { get; } = ReadFlags().Overlaps(["avx512_bf16", "amx_bf16"]);

    /// <summary>
    /// Whether libtorch computes in bfloat16 natively here: the processor can (<see cref="ProcessorHasBFloat16"/>) and
    /// oneDNN is not limited below its bfloat16 kernels (<see cref="OneDnnIsa.AllowsNativeBFloat16"/>).
    /// </summary>
    public static bool HasBFloat16 => ProcessorHasBFloat16 && OneDnnIsa.AllowsNativeBFloat16;

    private static HashSet<string> ReadFlags()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            return line is null ? [] : [.. line[(line.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries)];
        }
        catch (IOException)
        {
            return [];
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
    }
}
