namespace Cifar.Trainer.Native;

/// <summary>What this machine's processor can do, as the kernel reports it.</summary>
internal static class CpuFeatures
{
    /// <summary>
    /// Whether the processor computes in bfloat16 natively (AVX-512 BF16 or AMX-BF16), as <c>/proc/cpuinfo</c> lists:
    /// elsewhere libtorch emulates bfloat16 and it is slower than float32. False where there is no such file, and where
    /// oneDNN is limited below AVX-512 (<see cref="OneDnnIsa.Limit"/>), which leaves its bfloat16 kernels out.
    /// </summary>
    public static bool HasBFloat16 { get; } = OneDnnIsa.Limit is null && ReadFlags().Overlaps(["avx512_bf16", "amx_bf16"]);

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
