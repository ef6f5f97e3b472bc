using Cifar.Trainer.Training;

namespace Cifar.Trainer.Tests;

/// <summary>A refused resume names what differs as configuration keys, with the checkpoint's value and the run's.</summary>
public class FingerprintDifferenceTests
{
    // The shape Checkpoint.Fingerprint writes (enums as numbers, the network as its definition).
    private static string Fingerprint(double learningRate = 0.001, int precision = 0, string network = "SeedCnn",
        int channels = 6, string mean = "[0.5,0.5,0.5]", string augmentation = "null", int trainImages = 5000) =>
        $$$"""
        {"network":{"Name":"{{{network}}}","Layers":[{"Type":"Conv2d","OutChannels":{{{channels}}},"KernelSize":5}]},"classCount":10,
         "trainImages":{{{trainImages}}},"training":{"LearningRate":{{{learningRate}}},"Precision":{{{precision}}},"Schedule":{"WarmupFraction":0}},
         "normalization":{"Mean":{{{mean}}},"Std":[0.5,0.5,0.5]},"augmentation":{{{augmentation}}}}
        """;

    [Fact]
    public void Each_differing_value_is_named_by_its_key_with_both_values()
    {
        Assert.Equal("Training:LearningRate was 0.001, now 0.002",
            FingerprintDifference.Describe(Fingerprint(), Fingerprint(learningRate: 0.002)));
        Assert.Equal("Normalization:Mean:0 was 0.5, now 0.4; Normalization:Mean:2 was 0.5, now 0.6",
            FingerprintDifference.Describe(Fingerprint(), Fingerprint(mean: "[0.4,0.5,0.6]")));
        Assert.Equal("Model:Network:Layers:0:OutChannels was 6, now 8; the training images was 5000, now 4000",
            FingerprintDifference.Describe(Fingerprint(), Fingerprint(channels: 8, trainImages: 4000)));
    }

    [Fact]
    public void Enums_are_named_lists_of_another_length_shown_whole_and_a_missing_section_is_not_set()
    {
        Assert.Equal("Training:Precision was BFloat16, now Float32",
            FingerprintDifference.Describe(Fingerprint(precision: 1), Fingerprint(precision: 0)));
        Assert.Equal("Normalization:Mean was [0.5, 0.5, 0.5], now [0.5]",
            FingerprintDifference.Describe(Fingerprint(), Fingerprint(mean: "[0.5]")));
        Assert.Equal("Augmentation was not set, now set",
            FingerprintDifference.Describe(Fingerprint(), Fingerprint(augmentation: """{"Flip":true}""")));
        // An enum the fingerprint leaves out at its default (Checkpoint.Fingerprint's modifier) is named by that default.
        using var train = TestRuns.RandomSet(4, seed: 1);
        string Real(ConvolutionInputGradient choice) =>
            Checkpoint.Fingerprint(TestRuns.Run(new TrainingOptions { ConvolutionInputGradient = choice }), 3, train, null, TorchSharp.DeviceType.CPU);
        Assert.Equal("Training:ConvolutionInputGradient was Libtorch, now FlippedFilters",
            FingerprintDifference.Describe(Real(ConvolutionInputGradient.Libtorch), Real(ConvolutionInputGradient.FlippedFilters)));
    }

    [Fact]
    public void Another_network_is_one_line_and_many_differences_are_counted()
    {
        Assert.Equal("the network was SeedCnn, now AirbenchNet",
            FingerprintDifference.Describe(Fingerprint(), Fingerprint(network: "AirbenchNet", channels: 24)));
        var many = FingerprintDifference.Describe(Fingerprint(),
            Fingerprint(learningRate: 0.1, precision: 2, channels: 7, mean: "[0.1,0.2,0.3]", trainImages: 10));
        Assert.Equal("Model:Network:Layers:0:OutChannels was 6, now 7; the training images was 5000, now 10; "
            + "Training:LearningRate was 0.001, now 0.1; Training:Precision was Float32, now Float16; and 3 more", many);
    }

    [Fact]
    public void An_image_shape_is_one_value_and_cifars_where_none_is_recorded()
    {
        var cifar = Fingerprint();
        var mnist = cifar.TrimEnd()[..^1] + ""","imageShape":[1,28,28]}""";
        Assert.Equal("the image shape [C, H, W] was [3, 32, 32], now [1, 28, 28]", FingerprintDifference.Describe(cifar, mnist));
        Assert.Equal("the image shape [C, H, W] was [1, 28, 28], now [3, 32, 32]", FingerprintDifference.Describe(mnist, cifar));
    }

    [Fact]
    public void Fingerprints_that_are_not_comparable_say_so()
    {
        Assert.Equal("the checkpoint's settings cannot be compared with this run's", FingerprintDifference.Describe("not json", Fingerprint()));
    }
}
