using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Training;

namespace Cifar.Bench;

/// <summary>
/// <c>fast-step [PRECISION] [STEPS]</c>: the fast recipe's training step on this machine. <c>CifarRecipe.Fast</c> (its
/// network, optimizer, lookahead and augmentation) trains one epoch of STEPS batches of 1,024 random images on the CPU
/// with the given <c>Training:Precision</c> (default BFloat16; STEPS default 6), no validation; the first batch is a
/// warm-up. Prints <c>PRECISION: N ms per step, N images/s</c>.
/// </summary>
internal static class FastStepBenchmark
{
    public static int Run(TrainingPrecision precision, int steps)
    {
        var recipe = CifarRecipe.Fast;
        int batch = recipe.Training.BatchSize;
        var random = new Random(1);
        var pixels = new byte[(steps + 1) * batch * 3 * 32 * 32];
        random.NextBytes(pixels);
        var labels = Enumerable.Range(0, (steps + 1) * batch).Select(_ => (long)random.Next(10)).ToArray();
        using var data = TensorDataset.FromArrays(pixels, labels, 3, 32, 32, recipe.Normalization);
        var run = new TrainingRun
        {
            Model = recipe.Model,
            Training = recipe.Training with { Epochs = 1, Device = ComputeDevice.Cpu, Precision = precision },
        };
        var stepEnds = new List<TimeSpan>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var trained = CnnTrainer.Train(data, null, 10, run, new BatchAugmenter(recipe.Augmentation),
            new TrainingCallbacks { BatchCompleted = _ => stepEnds.Add(clock.Elapsed) });
        double perStep = (stepEnds[^1] - stepEnds[0]).TotalMilliseconds / steps;
        Console.WriteLine($"{precision}: {perStep:F0} ms per step, {batch * 1000 / perStep:F0} images/s");
        return 0;
    }
}
