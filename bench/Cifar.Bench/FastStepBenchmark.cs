using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Training;

namespace Cifar.Bench;

/// <summary>
/// <c>fast-step [PRECISION] [STEPS] [RECIPE]</c>: a fast recipe's training step on this machine. The recipe (default
/// <c>CifarRecipe.Fast</c>, configs/fast.json; or a recipe file such as configs/fast-muon.json: its network, optimizer,
/// lookahead, augmentation and batch size) trains one epoch of STEPS batches of random images on the CPU with the given
/// <c>Training:Precision</c> (default BFloat16; STEPS default 6), no validation; the first batch is a warm-up. Prints the
/// time per step and per image, and what the steps of the recipe's whole run on CIFAR-10's 50,000 images would take.
/// </summary>
internal static class FastStepBenchmark
{
    private const int CifarTrainingImages = 50_000;

    public static int Run(TrainingPrecision precision, int steps, string? recipeFile)
    {
        var recipe = recipeFile is null ? CifarRecipe.Fast : CifarRecipe.FromJson(File.ReadAllText(recipeFile));
        string name = recipeFile is null ? "fast.json" : Path.GetFileName(recipeFile);
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
        long runSteps = (long)recipe.Training.Epochs * ((CifarTrainingImages + batch - 1) / batch);
        Console.WriteLine($"{name} {precision}: {perStep:F0} ms per step of {batch} images, {batch * 1000 / perStep:F0} images/s; " +
            $"its run ({recipe.Training.Epochs} epochs, {runSteps} steps) ≈ {runSteps * perStep / 60_000:F1} min of steps");
        return 0;
    }
}
