using Cifar.Networks;
using Cifar.Trainer.Onnx;
using Cifar.Trainer.Training;
using Microsoft.ML.OnnxRuntime;
using Sequential = TorchSharp.Modules.Sequential;
using static TorchSharp.torch;

using static Cifar.Trainer.Tests.TestRuns;

namespace Cifar.Trainer.Tests;

/// <summary>
/// Networks are built for the images they are given: one channel or three, any height and width the layers can take.
/// Layers whose size follows from their input (the first convolution's channels, a Linear after Flatten) fit it; an
/// input too small for a layer is refused naming that layer.
/// </summary>
public class InputShapeTests
{
    private static long[] Shape(Sequential network, string parameter) => network.state_dict()[parameter].shape;

    [Fact]
    public void SeedCnn_sizes_its_first_convolution_and_head_from_the_input()
    {
        // 28×28 → pools of 2: 14, 7, 3 → 128·3·3; 48×48 → 24, 12, 6 → 128·6·6; 32×32 → 128·4·4, the tutorial's.
        using var mnist = Architectures.Create(SeedCnn.Definition, 10, [1, 28, 28]);
        Assert.Equal(new long[] { 64, 1, 5, 5 }, Shape(mnist, "conv1.weight"));
        Assert.Equal(new long[] { 10, 128 * 3 * 3 }, Shape(mnist, "fc.weight"));
        using var larger = Architectures.Create(SeedCnn.Definition, 4, [3, 48, 48]);
        Assert.Equal(new long[] { 4, 128 * 6 * 6 }, Shape(larger, "fc.weight"));
        using var cifar = Architectures.Create(SeedCnn.Definition, 10);
        Assert.Equal(new long[] { 10, 128 * 4 * 4 }, Shape(cifar, "fc.weight"));
    }

    [Fact]
    public void AirbenchNet_whitens_one_channel_and_ends_in_one_score_per_class()
    {
        // Whitening 2×2 patches of one channel gives 2·1·2·2 = 8 channels; 28 → 27 → pools 13, 6, 3 → pool 3 → 1.
        using var network = Architectures.Create(AirbenchNet.Definition, 10, [1, 28, 28]);
        Assert.Equal(new long[] { 8, 1, 2, 2 }, Shape(network, "whiten.weight"));
        Assert.Equal(new long[] { 64, 8, 3, 3 }, Shape(network, "block1_conv1.weight"));
        Assert.Equal(new long[] { 10, 256 }, Shape(network, "head.weight"));
        using var _ = no_grad();
        network.eval();
        using var logits = network.forward(randn(2, 1, 28, 28));
        Assert.Equal(new long[] { 2, 10 }, logits.shape);
    }

    [Theory]
    [InlineData(3, 4, 4, "network 'SeedCnn', layer 9 'pool3' (MaxPool2d): kernel 2×2 is larger than its input [256,1,1]")]
    [InlineData(1, 2, 40, "network 'SeedCnn', layer 6 'pool2' (MaxPool2d): kernel 2×2 is larger than its input [128,1,20]")]
    [InlineData(3, 32, 0, "network 'SeedCnn': the input must be an image shape [C, H, W] of positive sizes (got [3,32,0])")]
    public void An_input_too_small_for_a_layer_is_refused_naming_the_layer(int channels, int height, int width, string message)
    {
        Assert.Equal(message,
            Assert.Throws<NetworkDefinitionException>(() => SeedCnn.Definition.Check(10, [channels, height, width])).Message);
    }

    [Fact]
    public void A_network_trained_on_one_channel_28x28_images_exports_and_onnx_runtime_agrees()
    {
        random.manual_seed(7);
        using var pixels = randint(0, 256, [24, 1, 28, 28]).to(ScalarType.Byte);
        using var train = new TensorDataset(pixels.clone(), arange(24) % 3, new PixelNormalization([0.5f], [0.5f]));
        using var trained = CnnTrainer.Train(train, null, 3, Run(new TrainingOptions { Epochs = 1, BatchSize = 8, Device = ComputeDevice.Cpu }));
        Assert.Equal(new long[] { 64, 1, 5, 5 }, Shape(trained.Network, "conv1.weight"));

        var bytes = NetworkOnnxExporter.Export(trained.Network, trained.Definition, ["a", "b", "c"], new ClassifierGraphNames("Features", "Score", "Label"),
            channels: 1, height: 28, width: 28);
        using var session = new InferenceSession(bytes);
        using var scope = NewDisposeScope();
        var image = (randn(1, 1, 28, 28) * 0.8).contiguous();
        float[] expected;
        using (no_grad()) expected = nn.functional.softmax(trained.Network.forward(image), 1).data<float>().ToArray();
        var input = image.data<float>().ToArray();
        using var value = OrtValue.CreateTensorValueFromMemory(input, [input.Length]);
        using var results = session.Run(new RunOptions(), ["Features"], [value], ["Score"]);
        var scores = results[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal(3, scores.Length);
        for (int c = 0; c < 3; c++) Assert.True(Math.Abs(scores[c] - expected[c]) <= 1e-5, $"class {c}: {scores[c]} vs {expected[c]}");
    }
}
