using System.Collections.Concurrent;
using Cifar.Trainer.Training;
using static TorchSharp.torch;

namespace Cifar.Trainer.Native;

/// <summary>
/// Before a CPU run trains: libtorch's convolutions (oneDNN's kernels), forward and both gradients, in float32 and in the
/// run's 16-bit precision if it has one, against its float64 ones (ATen's own loops) on the shapes where wrong kernels
/// showed, once per process and precision, padded as this library's layers pad them (<see cref="ChannelPadding"/>). A
/// machine whose kernels are wrong is refused in one line instead of training to garbage (see <see cref="OneDnnIsa"/>).
/// </summary>
internal static class CpuKernelCheck
{
    // (inputs, outputs, kernel, padding, side): channel counts off the 8- and 16-wide vectors, as AirbenchNet's
    // whitening and first block, and a layer of 7 filters.
    private static readonly (int Inputs, int Outputs, int Kernel, int Padding, int Side)[] Shapes =
        [(3, 24, 2, 0, 16), (24, 64, 3, 1, 15), (5, 7, 3, 1, 9)];

    private static readonly ConcurrentDictionary<ScalarType, Lazy<string?>> Problems = new();

    /// <summary>
    /// Throws when the check failed in float32 or in <paramref name="passType"/>, the run's 16-bit precision (null: none);
    /// each precision is checked at most once per process (a few milliseconds).
    /// </summary>
    /// <exception cref="CpuKernelsWrongException">A convolution was off; the message says which and what to try.</exception>
    public static void ThrowIfWrong(ScalarType? passType = null)
    {
        foreach (var type in passType is { } pass ? [ScalarType.Float32, pass] : new[] { ScalarType.Float32 })
            if (Problems.GetOrAdd(type, t => new Lazy<string?>(() => FindProblem(t))).Value is { } problem)
                throw new CpuKernelsWrongException(problem);
    }

    private static string? FindProblem(ScalarType type)
    {
        foreach (var shape in Shapes)
            if (Compare(shape, type) is { } off)
                return $"libtorch's CPU convolutions compute wrong results on this machine ({type}, {shape.Inputs} -> {shape.Outputs} channels, " +
                       $"{shape.Kernel}x{shape.Kernel}: {off}); try {Fallback(type, OneDnnIsa.Chosen)} (docs/native-prerequisites.md)";
        return null;
    }

    // For 16-bit kernels, float32 passes (whose kernels passed first); else the next instruction set down from what runs:
    // AVX, whose kernels were right where AVX2's and AVX-512's were not, and SSE41 below it.
    private static string Fallback(ScalarType type, string? chosen) =>
        type != ScalarType.Float32 ? "Training:Precision=Float32"
        : $"ONEDNN_MAX_CPU_ISA={(string.Equals(chosen, "AVX", StringComparison.OrdinalIgnoreCase) ? "SSE41" : "AVX")}";

    /// <summary>
    /// What is off in one convolution of <paramref name="shape"/> (4 images) in <paramref name="type"/>, forward, both
    /// gradients and the image gradient as <see cref="FlippedFilterGradient"/> computes it (a forward convolution of other
    /// channel counts and padding), against float64 on the same (rounded) values; null when nothing is.
    /// </summary>
    internal static string? Compare((int Inputs, int Outputs, int Kernel, int Padding, int Side) shape, ScalarType type = ScalarType.Float32)
    {
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        using var generator = new Generator(7);
        var images = randn(4, shape.Inputs, shape.Side, shape.Side, generator: generator).to(type);
        var weights = randn(shape.Outputs, shape.Inputs, shape.Kernel, shape.Kernel, generator: generator).to(type);
        // As this library's layers convolve (padded where oneDNN needs it, in the layout 16-bit passes are fed), against
        // libtorch's float64 loops as they come.
        var actual = Convolve(ChannelsLast.ForTraining(images, sixteenBitPasses: type != ScalarType.Float32), weights, shape.Padding, OneDnnIsa.ChannelMultiple, type);
        var expected = Convolve(images.to(float64), weights.to(float64), shape.Padding, 1, type);
        double tolerance = type == ScalarType.Float32 ? Float32Tolerance : SixteenBitTolerance;
        string[] names = ["output", "image gradient", "weight gradient", "image gradient by flipped filters"];
        for (int i = 0; i < names.Length; i++)
            if (Difference(expected[i], actual[i], tolerance) is { } off) return $"{names[i]} {off}";
        return null;
    }

    // float32 rounds sums of a few hundred products to well within 1e-4 of their scale; a 16-bit result is rounded to
    // 8 (bfloat16) or 11 bits, within 1e-2. The wrong kernels were off by 15-50 %, or NaN.
    private const double Float32Tolerance = 1e-4, SixteenBitTolerance = 1e-2;

    private static Tensor[] Convolve(Tensor images, Tensor weights, int padding, int channelMultiple, ScalarType rounding)
    {
        var x = images.detach().requires_grad_(true);
        var w = weights.detach().requires_grad_(true);
        var output = ChannelPadding.Conv2d(x, w, null, [1, 1], [padding, padding], channelMultiple);
        // Drawn in float64 and rounded to the checked precision, so that both sides get the same upstream gradient.
        using var generator = new Generator(3);
        var upstream = randn(output.shape, dtype: float64, generator: generator).to(rounding).to(output.dtype);
        output.backward([upstream]);
        return [output.detach(), x.grad!, w.grad!, FlippedFilterGradient.InputGradient(upstream, weights, [padding, padding])];
    }

    /// <summary>
    /// "off by 0.4 at a scale of 1" where <paramref name="actual"/> differs from <paramref name="expected"/> by more than
    /// <paramref name="tolerance"/> (default 1e-4) of its scale; else null.
    /// </summary>
    internal static string? Difference(Tensor expected, Tensor actual, double tolerance = Float32Tolerance)
    {
        using var scope = NewDisposeScope();
        double scale = expected.abs().max().item<double>();
        double error = (actual.to(float64) - expected.to(float64)).abs().max().item<double>();
        return error <= tolerance * scale ? null : $"off by {error:G2} at a scale of {scale:G2}";
    }
}
