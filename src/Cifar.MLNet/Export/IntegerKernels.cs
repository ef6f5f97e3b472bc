using System.Runtime.Intrinsics.X86;
using Cifar.MLNet.Prediction;

namespace Cifar.MLNet.Export;

/// <summary>What ONNX Runtime's integer convolutions can take on this processor: which weights an int8 model may have.</summary>
internal static class IntegerKernels
{
    /// <summary>
    /// Whether ONNX Runtime's uint8 × int8 kernels add products in 32 bits here: x86 with AVX-VNNI, or with AVX-512 VNNI
    /// (CPUID leaf 7) where the OS has AVX-512 on, or not x86. Elsewhere (AVX2 only) they add pairs in 16 bits, which
    /// full-range 8-bit weights saturate.
    /// </summary>
    public static bool AddIn32Bits { get; } = !X86Base.IsSupported || AvxVnni.IsSupported
        || Avx512F.IsSupported && X86Base.CpuId(0, 0).Eax >= 7 && (X86Base.CpuId(7, 0).Ecx & (1 << 11)) != 0;

    /// <summary>The weight bits a quantization uses when not told: 8 where the kernels add in 32 bits, else 7.</summary>
    public static int DefaultWeightBits => AddIn32Bits ? 8 : 7;

    /// <summary>Whether kernels that add in 32 bits (<paramref name="addIn32Bits"/>) or in 16 compute weights of <paramref name="weightBits"/> bits right.</summary>
    public static bool Computes(int weightBits, bool addIn32Bits) => weightBits <= 7 || addIn32Bits;

    /// <summary>Refuses an int8 model whose weights these kernels would compute wrongly, in one line naming it.</summary>
    /// <exception cref="InvalidDataException">8-bit weights on a processor whose kernels add in 16 bits.</exception>
    public static void Require(ModelQuantization quantization, bool addIn32Bits, string name)
    {
        if (!Computes(quantization.WeightBits, addIn32Bits))
            throw new InvalidDataException($"{name}: its int8 convolutions have 8-bit weights, which ONNX Runtime computes wrongly on a processor " +
                                           "without VNNI, as this one; quantize the float32 model again with 7-bit weights (--weight-bits 7)");
    }
}
