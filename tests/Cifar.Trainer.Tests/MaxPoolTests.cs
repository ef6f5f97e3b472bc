using Cifar.Networks;
using static TorchSharp.torch;

namespace Cifar.Trainer.Tests;

/// <summary>
/// <see cref="MaxPool2dModule"/>: on the CPU the maxima's positions come from a channels-last copy; values and gradients
/// are libtorch's own max-pooling's, to the bit, ties included.
/// </summary>
public class MaxPoolTests
{
    [Theory]
    [InlineData(64, 31, 2, 2, ScalarType.Float32, false)]   // AirbenchNet's first block: the odd last row and column are left out (floor)
    [InlineData(64, 31, 2, 2, ScalarType.BFloat16, false)]  // its 16-bit working copy
    [InlineData(64, 31, 2, 2, ScalarType.BFloat16, true)]   // the same fed channels-last (16-bit passes where oneDNN may use AVX-512)
    [InlineData(8, 7, 3, 3, ScalarType.Float64, false)]     // its last pool's shape
    [InlineData(8, 7, 3, 3, ScalarType.Float32, true)]
    [InlineData(5, 9, 3, 2, ScalarType.BFloat16, false)]    // overlapping windows: libtorch's own pooling
    public void Values_and_gradients_are_libtorchs_max_pooling_to_the_bit_ties_included(int channels, int side, int kernel, int stride, ScalarType type, bool channelsLast)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(4);
        // Small integers: many windows hold their maximum twice, where the first position must take the gradient.
        var drawn = randint(0, 4, new long[] { 3, channels, side, side }, generator: generator).to(type);
        // The reference pools the NCHW tensor: a channels-last input must give the same values and gradients.
        var input = channelsLast ? Cifar.Trainer.Training.ChannelsLast.Of(drawn) : drawn;
        var pool = new MaxPool2dModule(kernel, stride);
        var expectedOutput = nn.functional.max_pool2d(drawn, [kernel, kernel], [stride, stride]);
        var upstream = randn(expectedOutput.shape, generator: generator).to(type);

        var x = input.detach().requires_grad_(true);
        var output = pool.call(x);
        output.backward([upstream]);
        var x0 = drawn.detach().requires_grad_(true);
        nn.functional.max_pool2d(x0, [kernel, kernel], [stride, stride]).backward([upstream]);

        Assert.Equal(expectedOutput.shape, output.shape);
        Assert.Equal(type, output.dtype);
        Assert.True(output.detach().allclose(expectedOutput, rtol: 0, atol: 0), "values differ");
        Assert.True(channelsLast ? Cifar.Trainer.Training.ChannelsLast.Has(output) : output.is_contiguous(), "the output keeps the input's layout");
        Assert.True(x.grad!.allclose(x0.grad!, rtol: 0, atol: 0), "gradients differ");
        using (no_grad())
        {
            var inference = pool.call(input);
            Assert.True(inference.allclose(expectedOutput, rtol: 0, atol: 0));
            Assert.True(channelsLast ? Cifar.Trainer.Training.ChannelsLast.Has(inference) : inference.is_contiguous());
        }
    }
}
