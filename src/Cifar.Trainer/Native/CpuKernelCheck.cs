using Cifar.Trainer.Training;
using static TorchSharp.torch;

namespace Cifar.Trainer.Native;

/// <summary>
/// Before a CPU run trains: libtorch's float32 convolutions (oneDNN's kernels), forward and both gradients, against its
/// float64 ones (ATen's own loops) on the shapes where wrong kernels showed, once per process, padded as this library's
/// layers pad them (<see cref="ChannelPadding"/>). A machine whose kernels
/// are wrong is refused in one line instead of training to garbage (see <see cref="OneDnnIsa"/>).
/// </summary>
internal static class CpuKernelCheck
{
    // (inputs, outputs, kernel, padding, side): channel counts off the 8- and 16-wide vectors, as AirbenchNet's
    // whitening and first block, and a layer of 7 filters.
    private static readonly (int Inputs, int Outputs, int Kernel, int Padding, int Side)[] Shapes =
        [(3, 24, 2, 0, 16), (24, 64, 3, 1, 15), (5, 7, 3, 1, 9)];

    private static readonly Lazy<string?> Problem = new(FindProblem);

    /// <summary>Throws when the check failed (run at most once per process; a few milliseconds).</summary>
    /// <exception cref="CpuKernelsWrongException">A convolution was off; the message says which and what to try.</exception>
    public static void ThrowIfWrong()
    {
        if (Problem.Value is { } problem) throw new CpuKernelsWrongException(problem);
    }

    private static string? FindProblem()
    {
        foreach (var shape in Shapes)
            if (Compare(shape) is { } off)
                return $"libtorch's CPU convolutions compute wrong results on this machine ({shape.Inputs} -> {shape.Outputs} channels, " +
                       $"{shape.Kernel}x{shape.Kernel}: {off}); try ONEDNN_MAX_CPU_ISA={Fallback(OneDnnIsa.Chosen)} (docs/native-prerequisites.md)";
        return null;
    }

    // The next instruction set down from what runs: AVX, whose kernels were right where AVX2's and AVX-512's were not,
    // and SSE41 below it.
    private static string Fallback(string? chosen) => string.Equals(chosen, "AVX", StringComparison.OrdinalIgnoreCase) ? "SSE41" : "AVX";

    /// <summary>
    /// What is off in one convolution of <paramref name="shape"/> (4 images), forward, both gradients and the image gradient
    /// as <see cref="FlippedFilterGradient"/> computes it (a forward convolution of other channel counts and padding),
    /// against float64; null when nothing is.
    /// </summary>
    internal static string? Compare((int Inputs, int Outputs, int Kernel, int Padding, int Side) shape)
    {
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        using var generator = new Generator(7);
        var images = randn(4, shape.Inputs, shape.Side, shape.Side, generator: generator);
        var weights = randn(shape.Outputs, shape.Inputs, shape.Kernel, shape.Kernel, generator: generator);
        // As this library's layers convolve (padded where oneDNN needs it), against libtorch's float64 loops as they come.
        var actual = Convolve(images, weights, shape.Padding, OneDnnIsa.ChannelMultiple);
        var expected = Convolve(images.to(float64), weights.to(float64), shape.Padding, 1);
        string[] names = ["output", "image gradient", "weight gradient", "image gradient by flipped filters"];
        for (int i = 0; i < names.Length; i++)
            if (Difference(expected[i], actual[i]) is { } off) return $"{names[i]} {off}";
        return null;
    }

    private static Tensor[] Convolve(Tensor images, Tensor weights, int padding, int channelMultiple)
    {
        var x = images.detach().requires_grad_(true);
        var w = weights.detach().requires_grad_(true);
        var output = ChannelPadding.Conv2d(x, w, null, [1, 1], [padding, padding], channelMultiple);
        // Drawn in float64 and cast, so that both precisions get the same upstream gradient.
        using var generator = new Generator(3);
        var upstream = randn(output.shape, dtype: float64, generator: generator).to(output.dtype);
        output.backward([upstream]);
        return [output.detach(), x.grad!, w.grad!, FlippedFilterGradient.InputGradient(upstream, weights, [padding, padding])];
    }

    /// <summary>"off by 0.4 at a scale of 1" where <paramref name="actual"/> differs from <paramref name="expected"/> by more than 1e-4 of its scale; else null.</summary>
    internal static string? Difference(Tensor expected, Tensor actual)
    {
        using var scope = NewDisposeScope();
        double scale = expected.abs().max().item<double>();
        double error = (actual.to(float64) - expected.to(float64)).abs().max().item<double>();
        return error <= 1e-4 * scale ? null : $"off by {error:G2} at a scale of {scale:G2}";
    }
}
