using Cifar.Networks;
using Cifar.Trainer.Training;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Cifar.Trainer.Tests;

/// <summary><see cref="OptimizerKind.Muon"/> (airbench94_muon's optimizers) against hand-computed and reference values.</summary>
public class MuonTests
{
    // airbench94_muon's quintic: one Newton–Schulz iteration maps each singular value σ to p(σ).
    private static double Quintic(double x) => 3.4445 * x - 4.7750 * x * x * x + 2.0315 * x * x * x * x * x;

    [Fact]
    public void Newton_schulz_maps_each_singular_value_through_the_quintic_and_keeps_the_singular_vectors()
    {
        // diag(3, 4) padded to 2×3 has singular values 3 and 4 on the unit vectors; ‖M‖ = 5 scales them to 0.6 and 0.8,
        // and three iterations give p(p(p(0.6))) and p(p(p(0.8))) in their places. Tall (3×2): the same, transposed.
        double Thrice(double x) => Quintic(Quintic(Quintic(x)));
        using var wide = tensor(new float[] { 3, 0, 0, 0, 4, 0 }, 2, 3);
        using var tall = wide.t().contiguous();
        var expected = new[] { Thrice(0.6), 0, 0, 0, Thrice(0.8), 0 };
        using var fromWide = Muon.Orthogonalize(wide, 3, ScalarType.Float32);
        using var fromTall = Muon.Orthogonalize(tall, 3, ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, fromWide.dtype);
        Assert.Equal(new long[] { 3, 2 }, fromTall.shape);
        var wideValues = fromWide.data<float>().ToArray();
        using var tallBack = fromTall.t().contiguous();
        var tallValues = tallBack.data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], wideValues[i], 5);
            Assert.Equal(expected[i], tallValues[i], 5);
        }
        // After three iterations the singular values sit near 1, not at it (the reference's choice of speed over exactness).
        Assert.InRange(Thrice(0.6), 0.7, 1.2);
        Assert.InRange(Thrice(0.8), 0.7, 1.2);
    }

    // tests/reference/muon_reference.py: the weight 3×2×2×2 and two gradients, values ((k·m) mod n − o) / s for k = 0 … 23.
    private static float[] Values(int multiplier, int modulus, int offset, float scale) =>
        Enumerable.Range(0, 24).Select(k => ((k * multiplier) % modulus - offset) / scale).ToArray();

    [Fact]
    public void Two_muon_steps_match_a_float64_computation_of_airbench94_muons_definition()
    {
        // tests/reference/muon_reference.py (numpy, float64): lr 0.24, momentum 0.6, 3 iterations, schedule factors 1 then 0.5.
        double[] afterFirst = [-0.448889755, 0.240255188, -0.278006729, 0.617070894, 0.0988089769, -0.459047253, 0.475624683, -0.0426372339, -0.338364044, 0.361683797, -0.145675223, -0.475449095, 0.224598745, -0.0895005023, 0.594872713, 0.0875136932, -0.313556557, 0.388527098, -0.116796108, -0.449827283, 0.252256371, -0.0568551158, -0.586098009, 0.115985645];
        double[] afterSecond = [-0.3890805, 0.233615905, -0.343945581, 0.644999912, 0.067438426, -0.435151887, 0.478822433, -0.00954291214, -0.31260568, 0.283042388, -0.161305344, -0.508813797, 0.260846221, -0.0782661524, 0.682997786, 0.0712254049, -0.347634361, 0.396652331, -0.173417182, -0.414187857, 0.229750379, 0.00925684443, -0.58108981, 0.0556858684];
        using var filter = new Parameter(tensor(Values(7, 11, 5, 4f), 3, 2, 2, 2));
        using var muon = new Muon([filter], new MuonOptions(), ScalarType.Float32);
        var gradients = new[] { Values(5, 13, 6, 8f), Values(3, 7, 3, 5f) };
        var factors = new[] { 1.0, 0.5 };
        var expected = new[] { afterFirst, afterSecond };
        for (int step = 0; step < 2; step++)
        {
            muon.ZeroGrad();
            filter.grad = tensor(gradients[step], 3, 2, 2, 2);
            muon.Step(factors[step]);
            var actual = filter.data<float>().ToArray();
            for (int i = 0; i < actual.Length; i++) Assert.Equal(expected[step][i], actual[i], 5);
        }
    }

    [Fact]
    public void In_bfloat16_newton_schulz_rounds_every_operation_to_bfloat16_as_airbench94_muon_does()
    {
        // tests/reference/muon_reference.py: the first step's direction (1 + 0.6) · gradient as a 3×8 matrix, orthogonalised with
        // airbench94_muon's operations in numpy, each result rounded to bfloat16 and each matrix product summed in float32
        // first. Each value is checked to within one bfloat16 step (another summation order may round the other way); float64
        // lies up to 0.015 away, PyTorch 1.13's CPU kernel (summing in bfloat16) up to 0.03.
        double[] reference = [-0.421875, -0.08984375, 0.25, -0.29296875, 0.0466308594, 0.5546875, -0.15625, 0.1796875, -0.4140625, -0.140625, 0.143554688, -0.3046875, -0.0234375, -0.546875, -0.19921875, 0.0888671875, -0.060546875, 0.20703125, 0.484375, 0.046875, 0.3203125, -0.22265625, 0.16015625, 0.4296875];
        using var direction = tensor(Values(5, 13, 6, 8f), 3, 8) * 1.6f;
        using var result = Muon.Orthogonalize(direction, 3, ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, result.dtype);
        using var values = result.to(ScalarType.Float32);
        var actual = values.data<float>().ToArray();
        for (int i = 0; i < actual.Length; i++)
            Assert.True(Math.Abs(actual[i] - reference[i]) <= Math.Abs(reference[i]) / 128, $"value {i}: {actual[i]}, reference {reference[i]}");
    }

    [Fact]
    public void Muon_steps_the_filters_and_nesterov_sgd_the_rest_each_group_at_its_rate_and_the_whitening_bias_on_its_own_schedule()
    {
        var definition = new NetworkDefinition("groups",
        [
            new PatchWhitening(BiasEpochs: 1) { Name = "whiten" }, new Conv2d(2, KernelSize: 1, Bias: false) { Name = "conv" },
            new BatchNorm2d(TrainScale: false) { Name = "norm" }, new Flatten(), new Linear(Bias: false) { Name = "head" },
        ]);
        using var network = NetworkBuilder.Build(definition, 2);
        var settings = new TrainingOptions
        {
            Epochs = 3, Optimizer = OptimizerKind.Muon, LearningRate = 0.1, Momentum = 0.5, WeightDecay = 0.01,
            BatchNormBiasLearningRateScale = 4, Schedule = new LearningRateSchedule { EndFactor = 0 }, Device = ComputeDevice.Cpu,
        };
        // 3 epochs of 2 steps: the whitening bias learns in epoch 1, so its schedule runs over 2 steps: factors 1, 0.5, then 0.
        using var optimizer = Optimizers.Create(network, settings, totalSteps: 6);
        Parameter P(string name) => network.get_parameter(name)!;
        float Value(string name) => P(name).data<float>()[0];
        float head0 = Value("head.weight");
        using var conv0 = P("conv.weight").clone();
        var conv0Values = conv0.data<float>().ToArray();
        void StepWithUnitGradients()
        {
            optimizer.ZeroGrad();
            foreach (var (_, parameter) in network.named_parameters().Where(p => p.parameter.requires_grad)) parameter.grad = ones_like(parameter);
            optimizer.Step(1); // the caller's schedule factor: 1 for every group but the whitening bias's own
        }

        StepWithUnitGradients();
        // SGD's first Nesterov step moves by lr · (1 + μ) · (g + decay · w): 0.1 · 1.5 · (1 + 0.01 w) for the head, and
        // 0.4 · 1.5 · 1 for both biases (lr × 4, decay / 4, starting at 0).
        Assert.Equal(head0 - 0.1 * 1.5 * (1 + 0.01 * head0), Value("head.weight"), 6);
        Assert.Equal(-0.6, Value("norm.bias"), 6);
        Assert.Equal(-0.6, Value("whiten.bias"), 6);
        // Muon: the filters [2, 24, 1, 1] are rescaled to norm √2, then stepped by 0.24 times the orthogonalised all-ones
        // direction: a rank-one matrix of singular value 1 after scaling, so p(p(p(1))) · 1/√48 in every place; no decay.
        double norm = Math.Sqrt(conv0Values.Sum(v => (double)v * v));
        double update = Quintic(Quintic(Quintic(1))) / Math.Sqrt(48);
        var conv1 = P("conv.weight").data<float>().ToArray();
        for (int i = 0; i < conv1.Length; i++) Assert.Equal(conv0Values[i] * Math.Sqrt(2) / norm - 0.24 * update, conv1[i], 5);
        Assert.Equal(0.0, P("whiten.weight").abs().sum().item<float>()); // frozen: never stepped, never rescaled

        StepWithUnitGradients();
        // Second step, decay d = 1 + 0.0025 · (−0.6), buffer 0.5 · 1 + d, Nesterov d + 0.5 · buffer: the shift moves by 0.4 of
        // it, the whitening bias by half as much (its schedule's factor at step 1 of 2).
        double d = 1 + 0.0025 * -0.6, nesterov = d + 0.5 * (0.5 + d);
        Assert.Equal(-0.6 - 0.4 * nesterov, Value("norm.bias"), 5);
        Assert.Equal(-0.6 - 0.4 * 0.5 * nesterov, Value("whiten.bias"), 5);

        float whitenBias = Value("whiten.bias");
        StepWithUnitGradients();
        Assert.Equal(whitenBias, Value("whiten.bias")); // its schedule has ended: factor 0 from step 2 on
    }

    [Theory]
    [InlineData(TrainingPrecision.Float32)]
    [InlineData(TrainingPrecision.BFloat16)]
    public void A_muon_run_resumed_from_its_checkpoint_gives_the_uninterrupted_runs_weights_bit_for_bit(TrainingPrecision precision)
    {
        // Muon's and both SGD groups' momentum, the step count that paces the whitening bias's schedule (it learns in epochs
        // 1 and 2, across the interruption) and the schedule's position all resume.
        using var dir = new Cifar.Tests.TestData.TempFolder();
        using var train = TestRuns.RandomSet(32, seed: 1);
        var settings = new TrainingOptions
        {
            Epochs = 3, BatchSize = 16, Device = ComputeDevice.Cpu, Seed = 3, Optimizer = OptimizerKind.Muon, LearningRate = 0.2,
            Momentum = 0.85, WeightDecay = 0.002, BatchNormBiasLearningRateScale = 64, LabelSmoothing = 0.2,
            Schedule = new LearningRateSchedule { EndFactor = 0 }, Precision = precision,
        };
        var model = new ModelOptions { Network = AirbenchNet.Definition with { Layers = [new PatchWhitening(BiasEpochs: 2) { Name = "whiten" }, .. AirbenchNet.Definition.Layers.Skip(1)] } };
        var augmenter = new Cifar.Trainer.Augmentation.BatchAugmenter(new AugmentationOptions { HorizontalFlip = true, AlternateFlips = true, Translate = 2 });
        TrainingRun Run(string? checkpoint = null, bool resume = false) =>
            new() { Model = model, Training = settings, CheckpointPath = checkpoint, Resume = resume };

        using var straight = CnnTrainer.Train(train, null, 3, Run(), augmenter);
        var checkpoint = dir.File("checkpoint.bin");
        using var stop = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => CnnTrainer.Train(train, null, 3, Run(checkpoint), augmenter,
            new TrainingCallbacks { BatchCompleted = p => { if (p.Epoch == 2) stop.Cancel(); } }, stop.Token));
        using var resumed = CnnTrainer.Train(train, null, 3, Run(checkpoint, resume: true), augmenter);

        Assert.Equal(straight.History.Select(h => h.TrainLoss), resumed.History.Select(h => h.TrainLoss));
        foreach (var (a, b) in straight.Network.state_dict().Values.Zip(resumed.Network.state_dict().Values))
            Assert.True(a.eq(b).all().item<bool>(), "state differs after resuming");
        // The filters moved (Muon stepped them) and kept the norm Muon gives them before each step, up to that last step.
        var filter = straight.Network.get_parameter("block2_conv2.weight")!; // the network owns it
        Assert.InRange(filter.norm().item<float>() / Math.Sqrt(256), 0.9, 1.1);
    }

    [Fact]
    public void The_fast_muon_config_is_airbench94_muons_recipe_over_ten_epochs_and_its_muon_keys_are_checked_by_name()
    {
        var file = File.ReadAllText(Path.Combine(Cifar.Tests.TestData.RepoRoot(), "configs", "fast-muon.json"));
        var recipe = CifarRecipe.FromJson(file);
        var training = recipe.Training;
        Assert.Equal((10, 2000, OptimizerKind.Muon, 0, 0.2), (training.Epochs, training.BatchSize, training.Optimizer, training.LookaheadInterval, training.LabelSmoothing));
        Assert.Equal(new MuonOptions { LearningRate = 0.24, Momentum = 0.6, NewtonSchulzSteps = 3 }, training.Muon);
        Assert.Equal(new MuonOptions(), training.Muon); // the defaults are airbench94_muon's
        // Its SGD rates for a mean loss: the reference's for a summed one over 2,000 images (the head's moved onto our ×1/9 head),
        // and every SGD parameter decays by the reference's 0.004 per step.
        Assert.Equal(0.67 * 2000 * Math.Pow(9.0 / 256, 2), training.LearningRate, 5);
        Assert.Equal(0.053 * 2000, training.LearningRate * training.BatchNormBiasLearningRateScale, 3);
        Assert.Equal(0.004, training.LearningRate * training.WeightDecay, 8);
        Assert.Equal(1 - 120.0 / 250, training.Schedule.Factor(120, 250), 12); // 10 epochs of 25 steps
        Assert.Equal(AirbenchNet.Name, recipe.Model.Architecture);
        Assert.Equal(CifarRecipe.Fast.Augmentation, recipe.Augmentation);

        var error = Assert.Throws<OptionsException>(() => CifarRecipe.FromJson("""{ "Training": { "Muon": { "Momentum": 1 } } }"""));
        Assert.Equal(("Training:Muon:Momentum", "Training:Muon:Momentum must be in [0, 1) (got 1)"), (error.Key, error.Message));
        Assert.Equal("Training:Muon:NewtonSchulzSteps", Assert.Throws<OptionsException>(() => CifarRecipe.FromJson("""{ "Training": { "Muon": { "NewtonSchulzSteps": 0 } } }""")).Key);
        Assert.Equal("Training:Muon:LearningRate", Assert.Throws<OptionsException>(() => CifarRecipe.FromJson("""{ "Training": { "Muon": { "LearningRate": -1 } } }""")).Key);
        Assert.Throws<System.Text.Json.JsonException>(() => CifarRecipe.FromJson("""{ "Training": { "Muon": { "Nesterov": false } } }"""));
    }

    [Fact]
    public void A_checkpoint_records_the_muon_settings_only_for_muon_runs_so_other_runs_fingerprints_are_unchanged()
    {
        using var train = TestRuns.RandomSet(4, seed: 1);
        string Fingerprint(TrainingOptions training) => Checkpoint.Fingerprint(new TrainingRun { Training = training }, 3, train, null, DeviceType.CPU);
        var nesterov = new TrainingOptions { Optimizer = OptimizerKind.Nesterov };
        Assert.DoesNotContain("Muon", Fingerprint(nesterov));
        Assert.Equal(Fingerprint(nesterov), Fingerprint(nesterov with { Muon = new MuonOptions { LearningRate = 1 } }));
        var muon = nesterov with { Optimizer = OptimizerKind.Muon };
        var other = muon with { Muon = new MuonOptions { LearningRate = 1 } };
        Assert.NotEqual(Fingerprint(muon), Fingerprint(other));
        Assert.Equal("Training:Muon:LearningRate was 0.24, now 1", FingerprintDifference.Describe(Fingerprint(muon), Fingerprint(other)));
    }
}
