using Cifar.Networks;
using Cifar.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Tests;

/// <summary><see cref="ConvolutionInputGradient.FlippedFilters"/>: input gradients by the forward kernel.</summary>
public class FlippedFilterGradientTests
{
    /// <summary>A network's convolution layer, freshly initialised.</summary>
    private static Conv2dModule Conv(int inputs, int outputs, int kernel, int padding = 0, int stride = 1, bool bias = true) =>
        new(inputs, new Conv2d(outputs, kernel, stride, padding, bias));

    /// <summary>Output, input gradient, filter gradient and bias gradient of one pass with <paramref name="upstream"/>.</summary>
    private static Tensor[] Pass(Conv2dModule conv, Tensor input, Tensor upstream)
    {
        var x = input.detach().requires_grad_(true);
        conv.zero_grad();
        var output = conv.call(x); // call, not forward: with the module's hooks, as a network's pass calls it
        output.backward([upstream]);
        return [output.detach(), x.grad!, conv.Weight.grad!.clone(), conv.Bias!.grad!.clone()];
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void A_one_row_convolutions_input_gradient_is_the_hand_computed_one()
    {
        // x = [[x0, x1, x2], [0, 0, 0]], filters [[2, 3], [0, 0]], no padding: y = [2·x0 + 3·x1, 2·x1 + 3·x2]. With
        // dy = [1, 10]: dx0 = 2·1 = 2, dx1 = 3·1 + 2·10 = 23, dx2 = 3·10 = 30, and the second row's 0.
        using var scope = NewDisposeScope();
        var conv = Conv(1, 1, kernel: 2);
        using (no_grad())
        {
            conv.Weight.copy_(tensor(new float[] { 2, 3, 0, 0 }).reshape(1, 1, 2, 2));
            conv.Bias!.zero_();
        }
        Assert.True(FlippedFilterGradient.Applies(conv));
        using var hooks = FlippedFilterGradient.Attach(conv);
        var result = Pass(conv, tensor(new float[] { 1, 1, 1, 0, 0, 0 }).reshape(1, 1, 2, 3), tensor(new float[] { 1, 10 }).reshape(1, 1, 1, 2));
        Assert.Equal(new float[] { 2, 23, 30, 0, 0, 0 }, result[1].data<float>().ToArray());
        // dw = Σ dy·x: 1 + 10 for each tap over the first row, 0 over the second.
        Assert.Equal(new float[] { 11, 11, 0, 0 }, result[2].data<float>().ToArray());
        Assert.Equal(new float[] { 11 }, result[3].data<float>().ToArray());
    }

    [Theory]
    [InlineData(3, 5, 3, 1, 9, 9)]   // AirbenchNet's shape: 3×3, padding 1
    [InlineData(4, 6, 3, 0, 8, 7)]   // no padding, a rectangle
    [InlineData(2, 3, 5, 2, 10, 6)]  // the tutorial's first layer's shape
    [InlineData(3, 4, 3, 2, 6, 6)]   // padding of the kernel side − 1, the most taken
    public void Gradients_match_libtorchs_float64_ones_and_the_output_is_libtorchs_own(int inputs, int outputs, int kernel, int padding, int height, int width)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(11);
        var input = randn(new long[] { 3, inputs, height, width }, generator: generator);
        random.manual_seed(4);
        var conv = Conv(inputs, outputs, kernel, padding);
        var upstream = randn(conv.forward(input).shape, generator: generator);
        var plain = Pass(conv, input, upstream);
        Assert.True(FlippedFilterGradient.Applies(conv));
        Tensor[] flipped;
        using (FlippedFilterGradient.Attach(conv)) flipped = Pass(conv, input, upstream);
        // The reference: libtorch's float64 convolution (its own loops, not oneDNN's kernels) with the same filters.
        var conv64 = Conv(inputs, outputs, kernel, padding).to(ScalarType.Float64);
        using (no_grad())
        {
            conv64.Weight.copy_(conv.Weight);
            conv64.Bias!.copy_(conv.Bias!);
        }
        var reference = Pass(conv64, input.to(ScalarType.Float64), upstream.to(ScalarType.Float64));

        Assert.True(Same(plain[0], flipped[0]), "the forward pass changed");
        // The hooked pass's input gradient is the forward kernel's, to the bit: the hooks ran.
        Assert.True(Same(FlippedFilterGradient.InputGradient(upstream, conv.Weight, [padding, padding]), flipped[1]));
        // Within 1e-4 of each gradient's scale, as the CPU kernel check's own comparison.
        for (int i = 1; i < 4; i++) Assert.Null(Cifar.Trainer.Native.CpuKernelCheck.Difference(reference[i], flipped[i]));
        // Where the two kernels add in another order the input gradients differ in their last bits at most.
        Assert.True(flipped[1].allclose(plain[1], rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void Only_stride_1_convolutions_with_padding_below_the_kernel_are_taken()
    {
        using var scope = NewDisposeScope();
        Assert.True(FlippedFilterGradient.Applies(Conv(4, 4, 3, padding: 1)));
        Assert.True(FlippedFilterGradient.Applies(Conv(4, 4, 1)));
        Assert.True(FlippedFilterGradient.Applies(Conv(4, 4, 3, padding: 2)));
        Assert.False(FlippedFilterGradient.Applies(Conv(4, 4, 3, padding: 1, stride: 2)));
        Assert.False(FlippedFilterGradient.Applies(Conv(4, 4, 3, padding: 3)));
    }

    [Fact]
    public void Passes_without_gradients_run_as_before_and_the_hooks_go_with_their_handle()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(2);
        var input = randn(new long[] { 2, 3, 6, 6 }, generator: generator);
        var conv = Conv(3, 4, 3, padding: 1);
        var upstream = randn(new long[] { 2, 4, 6, 6 }, generator: generator);
        var before = Pass(conv, input, upstream);
        var hooks = FlippedFilterGradient.Attach(conv);
        // An input that needs no gradient (images, a frozen first layer's output) and a pass without gradients.
        conv.zero_grad();
        var output = conv.call(input);
        Assert.True(output.requires_grad); // the filters' gradient still flows
        output.backward([upstream]);
        Assert.True(Same(conv.Weight.grad!, before[2]));
        using (no_grad()) Assert.True(Same(conv.call(input), before[0]));
        hooks.Dispose();
        // Detached: libtorch's own backward again, bit for bit.
        var after = Pass(conv, input, upstream);
        Assert.True(Same(after[1], before[1]));
    }

    [Fact]
    public void Convolutions_inside_a_residual_body_are_hooked_too()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        var network = NetworkBuilder.Build(new NetworkDefinition("res",
            [new Residual([new Conv2d(3, KernelSize: 3, Padding: 1, Bias: false)]) { Name = "res" }, new Flatten(), new Linear()]), 2);
        var residual = (nn.Module<Tensor, Tensor>)network.named_children().First().module;
        var conv = residual.modules().OfType<Conv2dModule>().Single();
        using var generator = new Generator(8);
        var x = randn(new long[] { 2, 3, 32, 32 }, generator: generator).requires_grad_(true);
        var upstream = randn(new long[] { 2, 3, 32, 32 }, generator: generator);
        using (FlippedFilterGradient.Attach(network)) residual.call(x).backward([upstream]);
        // x + conv(x): the identity's gradient plus the convolution's input gradient by the forward kernel, to the bit.
        Assert.True(Same(upstream + FlippedFilterGradient.InputGradient(upstream, conv.Weight, [1, 1]), x.grad!));
    }

    [Fact]
    public void A_run_is_bit_for_bit_repeatable_close_to_libtorchs_and_applies_on_the_cpu_only()
    {
        using var train = TestRuns.RandomSet(32, seed: 5);
        var definition = new NetworkDefinition("small",
        [
            new Conv2d(6, KernelSize: 3, Padding: 1), new Relu(),
            new Residual([new Conv2d(6, KernelSize: 3, Padding: 1), new Relu()]),
            new MaxPool2d(2), new Conv2d(8, KernelSize: 3, Padding: 1), new Relu(), new GlobalAvgPool(), new Linear(),
        ]);
        var settings = new TrainingOptions { Epochs = 2, BatchSize = 8, Device = ComputeDevice.Cpu, Optimizer = OptimizerKind.Sgd, LearningRate = 0.05 };
        TrainedNetwork Train(ConvolutionInputGradient choice) => CnnTrainer.Train(train, null, 3,
            new TrainingRun { Model = new ModelOptions { Network = definition }, Training = settings with { ConvolutionInputGradient = choice } });

        using var first = Train(ConvolutionInputGradient.FlippedFilters);
        using var second = Train(ConvolutionInputGradient.FlippedFilters);
        using var libtorch = Train(ConvolutionInputGradient.Libtorch);
        bool anyDifferent = false;
        foreach (var ((a, b), c) in first.Network.state_dict().Values.Zip(second.Network.state_dict().Values).Zip(libtorch.Network.state_dict().Values))
        {
            Assert.True(Same(a, b), "two runs with the same seed differ");
            Assert.True(a.allclose(c, rtol: 1e-3, atol: 1e-4), "the run strayed from libtorch's");
            anyDifferent |= !Same(a, c);
        }
        Assert.True(anyDifferent, "the choice changed no bit: the convolutions were not hooked");
        var flipped = settings with { ConvolutionInputGradient = ConvolutionInputGradient.FlippedFilters };
        Assert.Equal(ConvolutionInputGradient.FlippedFilters, flipped.InputGradientOn(DeviceType.CPU));
        Assert.Equal(ConvolutionInputGradient.Libtorch, flipped.InputGradientOn(DeviceType.CUDA));
    }

    [Fact]
    public void The_choice_is_in_a_cpu_checkpoints_fingerprint_only_where_it_is_not_libtorchs()
    {
        using var train = TestRuns.RandomSet(8, seed: 1);
        string Fingerprint(ConvolutionInputGradient choice, DeviceType device) =>
            Checkpoint.Fingerprint(TestRuns.Run(new TrainingOptions { ConvolutionInputGradient = choice }), 3, train, null, device);
        // Runs that keep libtorch's kernel keep the fingerprint they had before the option existed, so their checkpoints resume.
        Assert.DoesNotContain("ConvolutionInputGradient", Fingerprint(ConvolutionInputGradient.Libtorch, DeviceType.CPU));
        Assert.Contains("\"ConvolutionInputGradient\":1", Fingerprint(ConvolutionInputGradient.FlippedFilters, DeviceType.CPU));
        // A GPU keeps cuDNN's kernels whatever the choice.
        Assert.Equal(Fingerprint(ConvolutionInputGradient.Libtorch, DeviceType.CUDA), Fingerprint(ConvolutionInputGradient.FlippedFilters, DeviceType.CUDA));
    }
}
