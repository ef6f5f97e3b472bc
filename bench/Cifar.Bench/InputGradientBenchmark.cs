using System.Diagnostics;
using Cifar.Networks;
using Cifar.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Bench;

/// <summary>
/// <c>input-gradient [ROUNDS]</c>: the fast recipe's forward and backward pass (AirbenchNet, 1,024 images, float32, the CPU)
/// with <see cref="ConvolutionInputGradient.Libtorch"/> and <see cref="ConvolutionInputGradient.FlippedFilters"/> in one
/// process, alternated pass by pass (the order swapped every round), so the machine's drift reaches both alike.
/// Prints each round's backward times and the medians.
/// </summary>
internal static class InputGradientBenchmark
{
    public static int Run(int rounds)
    {
        Cifar.MLNet.TorchRuntime.RestartWithTrainingHeap();
        Cifar.MLNet.TorchRuntime.KeepFreedNativeBuffers();
        var recipe = CifarRecipe.Fast;
        int batch = recipe.Training.BatchSize;
        using var data = FastStepBenchmark.RandomImages(1, batch, recipe.Normalization);
        random.manual_seed(1);
        using var network = Architectures.Create(recipe.Model.Definition, 10, data.ImageShape);
        using var images = data.Normalized(0, batch);
        foreach (var whitening in network.modules().OfType<PatchWhiteningModule>()) whitening.Initialize(images);
        network.train();

        // One warm-up pass each, then the rounds.
        var times = new Dictionary<ConvolutionInputGradient, List<(double Forward, double Backward)>> { [ConvolutionInputGradient.Libtorch] = [], [ConvolutionInputGradient.FlippedFilters] = [] };
        Pass(network, images, data.Labels, ConvolutionInputGradient.Libtorch);
        Pass(network, images, data.Labels, ConvolutionInputGradient.FlippedFilters);
        for (int round = 0; round < rounds; round++)
        {
            ConvolutionInputGradient[] order = round % 2 == 0
                ? [ConvolutionInputGradient.Libtorch, ConvolutionInputGradient.FlippedFilters]
                : [ConvolutionInputGradient.FlippedFilters, ConvolutionInputGradient.Libtorch];
            foreach (var choice in order) times[choice].Add(Pass(network, images, data.Labels, choice));
            Console.WriteLine($"round {round + 1}: backward Libtorch {times[ConvolutionInputGradient.Libtorch][^1].Backward:F0} ms, " +
                $"FlippedFilters {times[ConvolutionInputGradient.FlippedFilters][^1].Backward:F0} ms");
        }
        double Median(IEnumerable<double> values) => values.Order().ElementAt(rounds / 2);
        var (libtorch, flipped) = (times[ConvolutionInputGradient.Libtorch], times[ConvolutionInputGradient.FlippedFilters]);
        Console.WriteLine($"medians of {rounds} rounds, {batch} images, {get_num_threads()} threads: backward {Median(libtorch.Select(t => t.Backward)):F0} → " +
            $"{Median(flipped.Select(t => t.Backward)):F0} ms (ratio {Median(libtorch.Zip(flipped, (l, f) => f.Backward / l.Backward)):F3}); " +
            $"forward {Median(libtorch.Select(t => t.Forward)):F0} / {Median(flipped.Select(t => t.Forward)):F0} ms; " +
            $"pass {Median(libtorch.Select(t => t.Forward + t.Backward)):F0} → {Median(flipped.Select(t => t.Forward + t.Backward)):F0} ms");
        return 0;
    }

    private static (double Forward, double Backward) Pass(nn.Module network, Tensor images, Tensor labels, ConvolutionInputGradient choice)
    {
        using var hooks = FlippedFilterGradient.AttachFor(choice, network);
        using var scope = NewDisposeScope();
        network.zero_grad();
        var clock = Stopwatch.StartNew();
        var loss = nn.functional.cross_entropy(((nn.Module<Tensor, Tensor>)network).call(images), labels);
        double forward = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        loss.backward();
        return (forward, clock.Elapsed.TotalMilliseconds);
    }
}
