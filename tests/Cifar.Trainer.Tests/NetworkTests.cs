using Cifar.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Tests;

public class NetworkTests
{
    [Fact]
    public void SeedCnn_maps_a_batch_of_images_to_one_logit_per_class()
    {
        using var network = Architectures.Create(SeedCnn.Name, 10);
        using var images = randn(4, 3, 32, 32);
        using var logits = network.forward(images);
        Assert.Equal(new long[] { 4, 10 }, logits.shape);
    }

    [Fact]
    public void SeedCnn_has_the_tutorials_689418_parameters()
    {
        using var network = Architectures.Create(SeedCnn.Name, 10);
        long count = network.parameters().Sum(p => p.numel());
        // conv1 3·64·25+64, conv2 64·128·9+128, conv3 128·256·9+256, conv4 256·128·9+128, fc 2048·10+10
        long byHand = (3 * 64 * 25 + 64) + (64 * 128 * 9 + 128) + (128 * 256 * 9 + 256) + (256 * 128 * 9 + 128) + (2048 * 10 + 10);
        Assert.Equal(byHand, count);
        Assert.Equal(SeedCnn.ParameterCount10Classes, count);
    }

    [Fact]
    public void SeedCnn_layers_are_the_tutorials_in_order()
    {
        using var network = Architectures.Create(SeedCnn.Name, 10);
        var kinds = network.named_children().Select(c => c.module.GetType().Name).ToArray();
        Assert.Equal(new[]
        {
            "Conv2dModule", "ReLU", "MaxPool2dModule", "Conv2dModule", "ReLU", "MaxPool2dModule", "Conv2dModule", "ReLU", "MaxPool2dModule",
            "Conv2dModule", "ReLU", "Flatten", "Linear",
        }, kinds);
        var conv1 = (Conv2dModule)network.named_children().First().module;
        Assert.Equal(5, conv1.KernelSize);
        Assert.Equal(new long[] { 2, 2 }, conv1.Padding);
        Assert.Equal(new long[] { 64, 3, 5, 5 }, conv1.Weight.shape);
    }

    [Fact]
    public void Architectures_names_the_unknown_one_in_its_error()
    {
        var error = Assert.Throws<ArgumentException>(() => Architectures.Create("ResNet9000", 10));
        Assert.Contains("ResNet9000", error.Message);
        Assert.Contains(SeedCnn.Name, error.Message);
        Assert.True(Architectures.IsKnown("seedcnn"));
    }
}
