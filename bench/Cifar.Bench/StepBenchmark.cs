using System.Diagnostics;
using Cifar.MLNet;
using Cifar.Networks;
using Cifar.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Bench;

/// <summary>
/// <c>step [IMAGES]</c>: the compute limit of the tutorial's model here. A fresh SeedCnn trained with
/// Adam at batch 32 on pre-made normalized tensors (no data pipeline, no augmentation, no metrics):
/// IMAGES images (default 5,000, as in the end-to-end run), timed from the first step so the cold
/// start is paid as in a real run. Prints <c>images/s N</c>.
/// </summary>
internal static class StepBenchmark
{
    public static int Run(int images)
    {
        const int batch = 32;
        TorchRuntime.KeepFreedNativeBuffers(); // as `cifar train` does: the machine's limit, not the allocator's
        random.manual_seed(1);
        using var inputs = rand(new long[] { images, 3, 32, 32 }) * 2 - 1;
        using var labels = randint(0, 10, new long[] { images });
        using var network = Architectures.Create("SeedCnn", 10);
        using var optimizer = optim.Adam(network.parameters(), 0.001, weight_decay: 5e-4);
        network.train();
        var clock = Stopwatch.StartNew();
        for (long start = 0; start < images; start += batch)
        {
            using var scope = NewDisposeScope();
            long size = Math.Min(batch, images - start);
            var loss = nn.functional.cross_entropy(network.forward(inputs.narrow(0, start, size)), labels.narrow(0, start, size));
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }
        Console.WriteLine($"images/s {images / clock.Elapsed.TotalSeconds:F1}");
        return 0;
    }
}
