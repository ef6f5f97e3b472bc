using System.Diagnostics;
using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Training;

namespace Cifar.Bench;

/// <summary>What <c>fast-step</c> runs: the pass type, the timed steps, and whether to show where the time goes.</summary>
internal sealed record FastStepOptions(TrainingPrecision Precision = TrainingPrecision.BFloat16, int Steps = 6, bool Profile = false,
    bool ChannelsLast = false, string? RecipeFile = null, bool DefaultHeap = false)
{
    /// <summary>The recipe that runs: <see cref="RecipeFile"/>, or <c>CifarRecipe.Fast</c> (configs/fast.json).</summary>
    public CifarRecipe Recipe => RecipeFile is null ? CifarRecipe.Fast : CifarRecipe.FromJson(File.ReadAllText(RecipeFile));

    /// <summary>The recipe's name in the printed line.</summary>
    public string RecipeName => RecipeFile is null ? "fast.json" : Path.GetFileName(RecipeFile);

    /// <summary><c>[PRECISION] [STEPS] [RECIPE] [--profile] [--channels-last] [--default-heap]</c>.</summary>
    public static FastStepOptions Parse(IReadOnlyList<string> args)
    {
        var options = new FastStepOptions();
        var positional = new List<string>();
        foreach (var arg in args)
        {
            if (arg == "--profile") options = options with { Profile = true };
            else if (arg == "--channels-last") options = options with { ChannelsLast = true };
            else if (arg == "--default-heap") options = options with { DefaultHeap = true };
            else if (arg.StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"fast-step: unknown option {arg}");
            else positional.Add(arg);
        }
        if (positional.Count > 3) throw new ArgumentException("fast-step takes [PRECISION] [STEPS] [RECIPE]");
        if (positional.Count > 0)
            options = options with
            {
                Precision = Enum.TryParse<TrainingPrecision>(positional[0], ignoreCase: true, out var precision) && Enum.IsDefined(precision)
                    ? precision : throw new ArgumentException($"fast-step: precision {positional[0]}: one of {string.Join(", ", Enum.GetNames<TrainingPrecision>())}"),
            };
        if (positional.Count > 1)
            options = options with { Steps = int.TryParse(positional[1], out int steps) && steps >= 1 ? steps : throw new ArgumentException("fast-step: STEPS must be 1 or more") };
        if (positional.Count > 2) options = options with { RecipeFile = positional[2] };
        if (options.Profile && options.RecipeFile is not null) throw new ArgumentException("fast-step: --profile rebuilds fast.json's step; it takes no RECIPE");
        if (options.ChannelsLast && !options.Profile) throw new ArgumentException("fast-step: --channels-last is a lever of --profile's step");
        return options;
    }
}

/// <summary>
/// <c>fast-step [PRECISION] [STEPS] [RECIPE] [--profile [--channels-last]] [--default-heap]</c>: a fast recipe's training step on this
/// machine. The recipe (default <c>CifarRecipe.Fast</c>, configs/fast.json; or a recipe file such as configs/fast-muon.json:
/// its network, optimizer, lookahead, augmentation and batch size) trains one epoch of STEPS batches of random images on the CPU with the given <c>Training:Precision</c> (default BFloat16; STEPS default 6), no
/// validation; the first batch is a warm-up. Prints <c>PRECISION: N ms per step, N images/s, N ms processor time per
/// step</c> (processor time: all the process's threads; on a shared machine it moves less than the wall time), then what
/// the steps of the recipe's whole run on CIFAR-10's 50,000 images would take. It sets glibc's heap up as
/// <c>cifar train</c> does (<c>TorchRuntime.RestartWithTrainingHeap</c>, <c>KeepFreedNativeBuffers</c>); <c>--default-heap</c> leaves glibc's heap as an
/// app that does not opt in has it.
/// bench/pytorch/fast_step.py is the same step in PyTorch and prints the same line. With <c>--profile</c>, then
/// <see cref="FastStepProfile"/>: where the step's time goes.
/// </summary>
internal static class FastStepBenchmark
{
    private const int CifarTrainingImages = 50_000;

    public static int Run(FastStepOptions options)
    {
        if (!options.DefaultHeap)
        {
            // As cifar train: the process started again with glibc's heap set up for training (only its arguments were read
            // so far), then freed buffers kept.
            Cifar.MLNet.TorchRuntime.RestartWithTrainingHeap();
            Cifar.MLNet.TorchRuntime.KeepFreedNativeBuffers();
        }
        var recipe = options.Recipe;
        int batch = recipe.Training.BatchSize, steps = options.Steps;
        using var data = RandomImages(steps + 1, batch, recipe.Normalization);
        var run = new TrainingRun
        {
            Model = recipe.Model,
            Training = recipe.Training with { Epochs = 1, Device = ComputeDevice.Cpu, Precision = options.Precision },
        };
        var stepEnds = new List<(TimeSpan Wall, TimeSpan Processor)>();
        var clock = Stopwatch.StartNew();
        using (var process = Process.GetCurrentProcess())
        using (CnnTrainer.Train(data, null, 10, run, new BatchAugmenter(recipe.Augmentation),
            new TrainingCallbacks
            {
                BatchCompleted = _ =>
                {
                    process.Refresh();
                    stepEnds.Add((clock.Elapsed, process.TotalProcessorTime));
                },
            }))
        {
        }
        Report(options.Precision, batch, steps, (stepEnds[^1].Wall - stepEnds[0].Wall).TotalMilliseconds,
            (stepEnds[^1].Processor - stepEnds[0].Processor).TotalMilliseconds);
        double perStep = (stepEnds[^1].Wall - stepEnds[0].Wall).TotalMilliseconds / steps;
        long runSteps = (long)recipe.Training.Epochs * ((CifarTrainingImages + batch - 1) / batch);
        Console.Error.WriteLine($"  {options.RecipeName}: {batch} images per step; its run ({recipe.Training.Epochs} epochs, {runSteps} steps) " +
            $"≈ {runSteps * perStep / 60_000:F1} min of steps");
        Console.Error.WriteLine($"  TorchSharp on libtorch, {TorchSharp.torch.get_num_threads()} threads; steps " +
            string.Join(", ", stepEnds.Zip(stepEnds.Skip(1), (a, b) => $"{(b.Wall - a.Wall).TotalMilliseconds:F0}")) + " ms");
        return options.Profile ? FastStepProfile.Run(options) : 0;
    }

    /// <summary>The line bench/pytorch/fast_step.py prints too, and the peer comparison reads.</summary>
    public static void Report(TrainingPrecision precision, int batch, int steps, double wallMs, double processorMs)
    {
        double perStep = wallMs / steps;
        Console.WriteLine($"{precision}: {perStep:F0} ms per step, {batch * 1000 / perStep:F0} images/s, {processorMs / steps:F0} ms processor time per step");
    }

    /// <summary><paramref name="batches"/> batches of random pixels and labels, seeded.</summary>
    public static TensorDataset RandomImages(int batches, int batch, PixelNormalization normalization)
    {
        var random = new Random(1);
        var pixels = new byte[batches * batch * 3 * 32 * 32];
        random.NextBytes(pixels);
        var labels = Enumerable.Range(0, batches * batch).Select(_ => (long)random.Next(10)).ToArray();
        return TensorDataset.FromArrays(pixels, labels, 3, 32, 32, normalization);
    }
}
