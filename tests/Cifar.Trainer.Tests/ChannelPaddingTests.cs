using Cifar.Networks;
using Cifar.Trainer.Native;
using static TorchSharp.torch;

namespace Cifar.Trainer.Tests;

/// <summary>
/// <see cref="ChannelPadding"/>: a convolution with both channel counts padded with zeros computes the same values and
/// gradients as without, on every machine (the padding is asked for explicitly here; which machines pad is
/// <see cref="OneDnnIsaTests"/>'s).
/// </summary>
public class ChannelPaddingTests
{
    /// <summary>Output, input gradient, filter gradient and bias gradient of <c>conv2d</c> padded to <paramref name="multiple"/>.</summary>
    private static Tensor[] Pass(Tensor input, Tensor weight, Tensor bias, Tensor upstream, long stride, long padding, int multiple)
    {
        var x = input.detach().requires_grad_(true);
        var w = weight.detach().requires_grad_(true);
        var b = bias.detach().requires_grad_(true);
        var output = ChannelPadding.Conv2d(x, w, b, [stride, stride], [padding, padding], multiple);
        output.backward([upstream]);
        return [output.detach(), x.grad!, w.grad!, b.grad!];
    }

    [Theory]
    [InlineData(3, 24, 2, 1, 0, 16)]   // AirbenchNet's whitening: runs as 16 -> 32, cut back to 24 filters
    [InlineData(24, 64, 3, 1, 1, 16)]  // its first block: 32 -> 64
    [InlineData(5, 7, 3, 2, 1, 8)]     // both sides padded, stride 2
    [InlineData(16, 32, 3, 1, 1, 16)]  // whole vectors already: nothing to pad
    public void A_padded_convolution_gives_the_plain_ones_values_and_gradients(int channels, int filters, int kernel, int stride, int padding, int multiple)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(5);
        // float64: libtorch's own loops on both sides, so only the padding could make a difference.
        var input = randn(new long[] { 3, channels, 9, 9 }, dtype: float64, generator: generator);
        var weight = randn(new long[] { filters, channels, kernel, kernel }, dtype: float64, generator: generator);
        var bias = randn(new long[] { filters }, dtype: float64, generator: generator);
        var plainOutput = nn.functional.conv2d(input, weight, bias, [stride, stride], [padding, padding]);
        var upstream = randn(plainOutput.shape, dtype: float64, generator: generator);
        var plain = Pass(input, weight, bias, upstream, stride, padding, 1);
        var padded = Pass(input, weight, bias, upstream, stride, padding, multiple);
        Assert.Equal(new long[] { 3, filters, plainOutput.shape[2], plainOutput.shape[3] }, padded[0].shape);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(plain[i].shape, padded[i].shape);
            Assert.True(padded[i].allclose(plain[i], rtol: 1e-12, atol: 1e-12), $"result {i} differs with padding");
        }
    }

    [Fact]
    public void A_channels_last_input_gives_a_whole_channels_last_output_of_the_same_values()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(8);
        // AirbenchNet's whitening as its 16-bit passes feed it on AVX-512: 3 -> 24 filters, run as 16 -> 32 and cut back.
        var input = randn(new long[] { 2, 3, 9, 9 }, generator: generator);
        var weight = randn(new long[] { 24, 3, 2, 2 }, generator: generator);
        var output = ChannelPadding.Conv2d(Cifar.Trainer.Training.ChannelsLast.Of(input), weight, null, [1, 1], [0, 0], 16);
        // NHWC in memory with nothing between the kept filters: a channel step 1, a column 24, a row 8 × 24, an image 8 × 192.
        Assert.Equal(new long[] { 1536, 1, 192, 24 }, output.stride());
        var reference = nn.functional.conv2d(input.to(float64), weight.to(float64));
        Assert.Null(CpuKernelCheck.Difference(reference, output));
    }

    [Fact]
    public void Without_padding_it_is_libtorchs_conv2d_to_the_bit()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(6);
        var input = randn(new long[] { 2, 16, 8, 8 }, generator: generator);
        var weight = randn(new long[] { 32, 16, 3, 3 }, generator: generator);
        var output = ChannelPadding.Conv2d(input, weight, null, [1, 1], [1, 1], 16);
        Assert.True(output.allclose(nn.functional.conv2d(input, weight, padding: [1, 1]), rtol: 0, atol: 0));
        Assert.True(output.is_contiguous());
    }

    [Fact]
    public void A_networks_convolution_layer_keeps_torchsharps_initialisation_and_parameter_names()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(9);
        var layer = new Conv2dModule(3, new Conv2d(8, KernelSize: 3, Padding: 1));
        random.manual_seed(9);
        var torchSharps = nn.Conv2d(3, 8, 3, padding: 1);
        Assert.Equal(new[] { "weight", "bias" }, layer.state_dict().Keys);
        Assert.True(layer.Weight.allclose(torchSharps.weight!, rtol: 0, atol: 0));
        Assert.True(layer.Bias!.allclose(torchSharps.bias!, rtol: 0, atol: 0));
        using var generator = new Generator(2);
        var x = randn(new long[] { 2, 3, 6, 6 }, generator: generator);
        // Its convolution (padded where this machine's kernels need it) against libtorch's float64 loops.
        using (no_grad())
        {
            var reference = nn.functional.conv2d(x.to(float64), layer.Weight.to(float64), layer.Bias!.to(float64), padding: [1, 1]);
            Assert.Null(CpuKernelCheck.Difference(reference, layer.call(x)));
        }
    }
}
