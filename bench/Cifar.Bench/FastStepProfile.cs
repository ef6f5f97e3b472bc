using System.Diagnostics;
using Cifar.Trainer.Augmentation;
using Cifar.Networks;
using Cifar.Trainer.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Bench;

/// <summary>
/// Where the fast recipe's step spends its time (<c>fast-step --profile</c>): the step rebuilt from the trainer's own
/// parts (network, mixed precision, Nesterov SGD inside lookahead, augmenter, dataset) in CnnTrainer's order, with a
/// clock read between the phases: augmentation (gather, [0, 1], flip, translate, normalize), working-copy refresh,
/// forward (with the loss), backward, gradients to float32, optimizer, lookahead, bookkeeping. The CPU finishes each
/// operation before the next call returns, so the wall time between two reads is the phase's. Its total per step is
/// printed beside <see cref="FastStepBenchmark"/>'s, which times the trainer itself. Then each layer of the pass's
/// network alone on its real input (best of 3): forward, and backward (the gradients of its input and its trained
/// weights), with the arithmetic rate of convolutions and the head, as bench/pytorch/fast_step.py --profile prints them.
/// The images take the layout the trainer gives them (<see cref="ChannelsLast.ForTraining(Tensor, bool)"/>);
/// <c>--channels-last</c> gives the images and the convolution weights channels-last strides (NHWC in memory, the
/// shape unchanged) whatever the precision, which libtorch's oneDNN convolutions keep in their outputs: the lever
/// TorchSharp 0.107 has no memory-format API for.
/// </summary>
internal static class FastStepProfile
{
    public static int Run(FastStepOptions options)
    {
        var recipe = CifarRecipe.Fast;
        var settings = recipe.Training with { Epochs = 1, Device = ComputeDevice.Cpu, Precision = options.Precision };
        int batch = settings.BatchSize, steps = options.Steps;
        long totalSteps = (long)recipe.Training.Epochs * ((50_000 + batch - 1) / batch); // the lookahead's pace of a full run
        using var data = FastStepBenchmark.RandomImages(steps + 1, batch, recipe.Normalization);
        var passType = settings.PassTypeFor(DeviceType.CPU);
        random.manual_seed(settings.Seed);
        using var network = Architectures.Create(recipe.Model.Definition, 10, data.ImageShape);
        var working = passType is null ? null : Architectures.Create(recipe.Model.Definition, 10, data.ImageShape);
        foreach (var whitening in network.modules().OfType<PatchWhiteningModule>())
        {
            using var images = data.Normalized(0, batch);
            whitening.Initialize(images);
        }
        var phases = new Phases();
        using var optimizer = new Lookahead(new MarkingStepper(new MomentumSgd(network, settings), phases, "optimizer"),
            network, settings.LookaheadInterval, totalSteps);
        using var precision = passType is { } type ? new MixedPrecision(network, working!, type, batch) : null;
        if (options.ChannelsLast) ChannelsLastWeights(working ?? network);
        // The images' layout: the trainer's (as the step feeds them), or channels-last with --channels-last.
        Tensor Layout(Tensor images) => options.ChannelsLast ? ChannelsLast.Of(images) : ChannelsLast.ForTraining(images, passType is not null);
        var augmenter = new BatchAugmenter(recipe.Augmentation);
        using var shuffle = new Generator((ulong)settings.Seed);
        using var augmentGenerator = new Generator((ulong)settings.Seed + 1);
        using var order = randperm(data.Count, generator: shuffle);
        using var draws = augmenter.DrawEpoch(data.Count, batch, 1, (ulong)settings.Seed + 2, augmentGenerator, CPU);
        using var lossSum = zeros(1, dtype: ScalarType.Float64);
        using var correct = zeros(1, dtype: ScalarType.Int64);
        network.train();
        precision?.train();
        nn.Module<Tensor, Tensor> passes = (nn.Module<Tensor, Tensor>?)precision ?? network;
        // As the trainer: the recipe's input gradients, on the network that runs the passes (the layer table's too).
        using var inputGradients = FlippedFilterGradient.AttachFor(settings.InputGradientOn(DeviceType.CPU), passes);
        var clock = Stopwatch.StartNew();
        TimeSpan firstTimed = default;
        for (int step = 0; step <= steps; step++)
        {
            phases.On = step > 0; // the first step is the warm-up
            if (step == 1) firstTimed = clock.Elapsed;
            using var scope = NewDisposeScope();
            phases.Start();
            var indices = order.narrow(0, (long)step * batch, batch);
            var images = data.NormalizePixels(augmenter.Apply(data.Pixels(indices), draws, indices, (long)step * batch));
            images = Layout(images);
            var labels = data.Labels.index_select(0, indices);
            phases.Mark("augmentation");
            if (precision is not null)
            {
                precision.LoadFromMaster();
                phases.Mark("working-copy refresh");
            }
            var logits = passes.forward(images);
            var loss = CnnTrainer.Loss(logits, labels, settings.LabelSmoothing);
            phases.Mark("forward");
            optimizer.ZeroGrad();
            loss.backward();
            phases.Mark("backward");
            if (precision is not null)
            {
                precision.StoreInMaster();
                phases.Mark("gradients to float32");
            }
            optimizer.Step(settings.Schedule.Factor(step, totalSteps)); // marks "optimizer" between its two parts
            phases.Mark("lookahead");
            lossSum.add_(loss.detach().to(ScalarType.Float64) * batch);
            correct.add_(logits.argmax(1).eq(labels).sum());
            phases.Mark("bookkeeping");
        }
        double total = phases.Seconds.Values.Sum();
        Console.WriteLine($"phases, mean of {steps} steps ({total / steps * 1000:F0} ms per step; this rebuilt step took " +
            $"{(clock.Elapsed - firstTimed).TotalMilliseconds / steps:F0} ms from its first timed step){(options.ChannelsLast ? ", channels-last" : "")}:");
        foreach (var (name, seconds) in phases.Seconds)
            Console.WriteLine($"  {name,-22} {seconds / steps * 1000,8:F1} ms  {seconds / total,6:P1}");
        using (NewDisposeScope()) // the sample, its typed copy and its layout, whichever of them are distinct tensors
        {
            var sample = data.NormalizePixels(augmenter.Apply(data.Pixels(order.narrow(0, 0, batch)), draws, order.narrow(0, 0, batch), 0));
            var typed = passType is { } t ? sample.to(t) : sample;
            PrintLayers(working ?? network, Layout(typed));
        }
        return 0;
    }

    private static void ChannelsLastWeights(Sequential network)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var parameter in network.parameters().Where(p => p.dim() == 4)) parameter.set_(ChannelsLast.Of(parameter));
    }

    private static void PrintLayers(Sequential network, Tensor images)
    {
        Console.WriteLine("layers, each alone on its input (best of 3): forward ms, backward ms, GFLOP/s forward, backward");
        double forwardSum = 0, backwardSum = 0, forwardFlop = 0, backwardFlop = 0;
        var x = images.alias();
        foreach (var (name, child) in network.named_children())
        {
            var layer = (nn.Module<Tensor, Tensor>)child;
            double forward = double.MaxValue, backward = double.MaxValue;
            long[] shape = [];
            for (int repeat = 0; repeat < 3; repeat++)
            {
                using var scope = NewDisposeScope();
                var source = x.detach().requires_grad_(layer is not PatchWhiteningModule);
                var clock = Stopwatch.StartNew();
                var y = layer.call(source); // with the module's hooks, as the network's own pass calls it
                forward = Math.Min(forward, clock.Elapsed.TotalSeconds);
                shape = y.shape[1..];
                var trained = layer.parameters().Where(p => p.requires_grad).ToArray();
                clock.Restart();
                if (source.requires_grad || trained.Length > 0) y.backward(new[] { ones_like(y) });
                backward = Math.Min(backward, clock.Elapsed.TotalSeconds);
                foreach (var p in trained) p.grad = null;
            }
            double flop = Flop(child, x, shape), flopBack = layer is PatchWhiteningModule ? 0 : 2 * flop;
            Console.WriteLine($"  {name,-14} {child.GetType().Name,-16} {"(" + string.Join(", ", shape) + ")",-14} {forward * 1000,8:F1} {backward * 1000,8:F1} " +
                $"{(flop > 0 ? $"{flop / forward / 1e9,7:F1}" : "       ")} {(flopBack > 0 ? $"{flopBack / backward / 1e9,7:F1}" : "")}");
            forwardSum += forward; backwardSum += backward; forwardFlop += flop; backwardFlop += flopBack;
            using (no_grad())
            {
                var next = layer.forward(x);
                x.Dispose();
                x = next;
            }
        }
        x.Dispose();
        Console.WriteLine($"  {"all layers",-46} {forwardSum * 1000,8:F1} {backwardSum * 1000,8:F1} {forwardFlop / forwardSum / 1e9,7:F1} " +
            $"{backwardFlop / backwardSum / 1e9,7:F1}   ({(forwardFlop + backwardFlop) / 1e12:F3} TFLOP per step)");
    }

    /// <summary>A forward pass's multiply-adds × 2 for convolutions and linear layers; 0 for the rest.</summary>
    private static double Flop(nn.Module layer, Tensor input, long[] outputShape)
    {
        double outputs = input.shape[0] * outputShape.Aggregate(1L, (a, b) => a * b);
        return layer switch
        {
            Conv2dModule c => 2 * outputs * c.Weight.shape[1] * c.KernelSize * c.KernelSize,
            PatchWhiteningModule w => 2 * outputs * w.Weight.shape[1] * w.Weight.shape[2] * w.Weight.shape[3],
            TorchSharp.Modules.Linear l => 2 * outputs * l.in_features,
            _ => 0,
        };
    }

    /// <summary>Wall time per named phase, summed over the steps it is on for, in the order first seen.</summary>
    private sealed class Phases
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan _last;

        public bool On { get; set; }

        public Dictionary<string, double> Seconds { get; } = [];

        public void Start() => _last = _clock.Elapsed;

        public void Mark(string name)
        {
            var now = _clock.Elapsed;
            if (On) Seconds[name] = Seconds.GetValueOrDefault(name) + (now - _last).TotalSeconds;
            _last = now;
        }
    }

    /// <summary>An optimizer that marks a phase when its step is done (so lookahead's own work is timed apart).</summary>
    private sealed class MarkingStepper(IStepper inner, Phases phases, string phase) : IStepper
    {
        public void ZeroGrad() => inner.ZeroGrad();

        public void Step(double learningRateFactor)
        {
            inner.Step(learningRateFactor);
            phases.Mark(phase);
        }

        public void Save(BinaryWriter writer) => inner.Save(writer);

        public void Load(BinaryReader reader) => inner.Load(reader);

        public void Dispose() => inner.Dispose();
    }
}
