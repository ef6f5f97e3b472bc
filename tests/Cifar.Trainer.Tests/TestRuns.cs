using Cifar.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Tests;

/// <summary>Short forms for the training runs and data the tests make.</summary>
internal static class TestRuns
{
    /// <summary>A run of <paramref name="training"/>, with a checkpoint file when given.</summary>
    public static TrainingRun Run(TrainingOptions training, string? checkpoint = null, bool resume = false) =>
        new() { Training = training, CheckpointPath = checkpoint, Resume = resume };

    /// <summary><paramref name="count"/> images of uniform random pixels, labels of 3 classes, normalized as the tutorial.</summary>
    public static TensorDataset RandomSet(int count, int seed, PixelNormalization? normalization = null)
    {
        using var g = new Generator((ulong)seed);
        var pixels = randint(0, 256, new long[] { count, 3, 32, 32 }, generator: g).to(ScalarType.Byte);
        var labels = randint(0, 3, new long[] { count }, generator: g);
        return new TensorDataset(pixels, labels, normalization ?? PixelNormalization.Tutorial);
    }
}
