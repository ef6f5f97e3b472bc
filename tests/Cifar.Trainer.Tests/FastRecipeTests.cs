using Cifar.Networks;
using Cifar.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Tests;

/// <summary>The fast recipe's parts (airbench94's) against hand-computed values.</summary>
public class FastRecipeTests
{
    [Fact]
    public void AirbenchNet_has_the_references_parameter_count_and_trains_only_what_the_reference_trains()
    {
        using var network = Architectures.Create(AirbenchNet.Name, 10);
        Assert.Equal(AirbenchNet.ParameterCount10Classes, network.parameters().Sum(p => p.numel()));
        // Frozen: the whitening filters (24·3·2·2) and the six BatchNorm scales (64 + 64 + 256 · 4).
        long frozen = network.parameters().Where(p => !p.requires_grad).Sum(p => p.numel());
        Assert.Equal(288 + 64 * 2 + 256 * 4, frozen);
        using var logits = network.forward(zeros(2, 3, 32, 32));
        Assert.Equal(new long[] { 2, 10 }, logits.shape);
    }

    [Fact]
    public void Identity_initialised_convolutions_pass_their_input_through()
    {
        using var network = NetworkBuilder.Build(new NetworkDefinition("Id", [new Conv2d(5, 3, Padding: 1, Bias: false, IdentityInit: true), new Flatten(), new Linear()]), 2);
        using var input = rand(1, 3, 32, 32);
        using var conv = ((nn.Module<Tensor, Tensor>)network.named_children().First().module).forward(input);
        // The first three filters give back the three input channels exactly; the other two are random.
        Assert.True(conv.narrow(1, 0, 3).allclose(input, rtol: 0, atol: 0));
    }

    [Fact]
    public void Whitening_filters_are_the_scaled_eigenvectors_of_a_hand_computed_patch_covariance_and_their_negatives()
    {
        // Eight 1×2×2 images, each exactly one 2×2 patch: ±2·e1, ±1·e2, ±0.5·e3, ±0.25·e4. The covariance (1/8)·Σ p·pᵀ is
        // diag(1, 0.25, 0.0625, 0.015625): eigenvectors e1 … e4, largest first, each scaled by 1/√(λ + ε).
        var values = new List<float>();
        foreach (var (axis, length) in new[] { (0, 2f), (1, 1f), (2, 0.5f), (3, 0.25f) })
            foreach (var sign in new[] { 1f, -1f })
                values.AddRange(Enumerable.Range(0, 4).Select(i => i == axis ? sign * length : 0f));
        using var images = tensor(values.ToArray(), 8, 1, 2, 2);
        var definition = new PatchWhitening(KernelSize: 2, Epsilon: 5e-4);
        using var whitening = new PatchWhiteningModule(1, definition);
        whitening.Initialize(images);

        var weights = whitening.Weight.data<float>().ToArray(); // [8, 1, 2, 2]
        double[] eigenvalues = [1, 0.25, 0.0625, 0.015625];
        for (int filter = 0; filter < 4; filter++)
            for (int k = 0; k < 4; k++)
            {
                double expected = k == filter ? 1 / Math.Sqrt(eigenvalues[filter] + 5e-4) : 0;
                Assert.Equal(expected, Math.Abs(weights[filter * 4 + k]), 4); // an eigenvector's sign is free
                Assert.Equal(-weights[filter * 4 + k], weights[(filter + 4) * 4 + k]);
            }
        // The whitened patches have unit variance (up to ε) along every filter.
        using var output = whitening.forward(images);
        using var variance = output.pow(2).mean(new long[] { 0, 2, 3 });
        Assert.True(variance.narrow(0, 0, 4).allclose(tensor(eigenvalues.Select(l => (float)(l / (l + 5e-4))).ToArray()), rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void The_whitening_bias_learns_only_in_its_first_epochs()
    {
        using var whitening = new PatchWhiteningModule(3, new PatchWhitening(BiasEpochs: 3));
        Assert.False(whitening.Weight.requires_grad);
        whitening.SetEpoch(3);
        Assert.True(whitening.Bias.requires_grad);
        whitening.SetEpoch(4);
        Assert.False(whitening.Bias.requires_grad);
    }

    [Fact]
    public void The_schedule_warms_up_linearly_then_decays_linearly_to_its_end_factor()
    {
        var schedule = new LearningRateSchedule { WarmupFraction = 0.25, StartFactor = 0.2, EndFactor = 0.1 };
        // 100 steps: warm-up over steps 0–24 from 0.2 towards 1, then from 1 at step 25 to 0.1 at the 100th.
        Assert.Equal(0.2, schedule.Factor(0, 100), 12);
        Assert.Equal(0.2 + 0.8 * 10 / 25, schedule.Factor(10, 100), 12);
        Assert.Equal(1.0, schedule.Factor(25, 100), 12);
        Assert.Equal(1 - 0.9 * 50 / 75, schedule.Factor(75, 100), 12);
        Assert.Equal(1.0, new LearningRateSchedule().Factor(37, 100));
    }

    [Fact]
    public void Label_smoothing_and_nesterov_sgd_match_pytorchs_definitions_on_a_hand_computed_step()
    {
        // One weight w = 1 in a 1-input, 2-class linear model without bias, input 1, label 0: logits (w0, w1) = (1, 0).
        using var network = nn.Sequential(("fc", nn.Linear(1, 2, hasBias: false)));
        using (no_grad()) network.parameters().First().copy_(tensor(new float[] { 1, 0 }).view(2, 1));
        var settings = new TrainingOptions { Optimizer = OptimizerKind.Nesterov, LearningRate = 0.1, Momentum = 0.5, WeightDecay = 0 };
        using var sgd = Optimizers.Create(network, settings, totalSteps: 1);
        // Smoothed target (1 − ε + ε/2, ε/2) with ε = 0.2: (0.9, 0.1); softmax (1, 0) = (e/(e+1), 1/(e+1)).
        double p0 = Math.E / (Math.E + 1);
        double gradient0 = p0 - 0.9; // d loss / d w0 = (p0 − t0) · input
        var logits = network.forward(ones(1, 1));
        var logp = logits.log_softmax(1);
        var loss = (-logp[0, 0] * 0.8 + -logp.mean(new long[] { 1 }) * 0.2).mean();
        sgd.ZeroGrad();
        loss.backward();
        Assert.Equal(gradient0, network.parameters().First().grad![0, 0].item<float>(), 5);
        sgd.Step(1);
        // Nesterov's first step: buffer = g, update = g + μ·buffer = 1.5 g.
        Assert.Equal(1 - 0.1 * 1.5 * gradient0, network.parameters().First()[0, 0].item<float>(), 5);
    }

    [Fact]
    public void Test_time_views_average_the_logits_of_the_mirror_and_translated_images_with_the_references_weights()
    {
        // A "network" that returns the top-left pixel and the mean as two logits sees which view it gets.
        using var probe = new TopLeftAndMean();
        using var image = arange(16, dtype: ScalarType.Float32).view(1, 1, 4, 4);
        using var logits = TestTimeViews.Logits(probe, image, TestTimeAugmentation.MirrorTranslate);
        // Views' top-left pixels: x 0, flip x 3, reflect-padded up-left 5 (pixel (1,1)), its flip 6, down-right 5, its flip 6.
        double expected = 0.25 * 0 + 0.25 * 3 + 0.125 * (5 + 6 + 5 + 6);
        Assert.Equal(expected, logits[0, 0].item<float>(), 5);
        Assert.Equal(1f, TestTimeViews.Weights(TestTimeAugmentation.MirrorTranslate).Sum());
    }

    [Theory]
    [InlineData(TrainingPrecision.Float32, ConvolutionInputGradient.Libtorch)]
    [InlineData(TrainingPrecision.Float32, ConvolutionInputGradient.FlippedFilters)]
    [InlineData(TrainingPrecision.BFloat16, ConvolutionInputGradient.FlippedFilters)]
    public void A_fast_recipe_run_resumed_from_its_checkpoint_gives_the_uninterrupted_runs_weights_bit_for_bit(TrainingPrecision precision,
        ConvolutionInputGradient inputGradient)
    {
        // Lookahead's average, the momentum buffers, the schedule's position and the whitening bias's freeze all resume.
        using var dir = new Cifar.Tests.TestData.TempFolder();
        using var train = TestRuns.RandomSet(48, seed: 1);
        var settings = new TrainingOptions
        {
            Epochs = 3, BatchSize = 16, Device = ComputeDevice.Cpu, Seed = 3, Optimizer = OptimizerKind.Nesterov, LearningRate = 0.2,
            Momentum = 0.85, BatchNormBiasLearningRateScale = 64, LabelSmoothing = 0.2, LookaheadInterval = 2,
            Schedule = new LearningRateSchedule { WarmupFraction = 0.23, StartFactor = 0.2, EndFactor = 0.07 }, Precision = precision,
            ConvolutionInputGradient = inputGradient,
        };
        var model = new ModelOptions { Network = AirbenchNet.Definition with { Layers = [new PatchWhitening(BiasEpochs: 1), .. AirbenchNet.Definition.Layers.Skip(1)] } };
        var augmenter = new Cifar.Trainer.Augmentation.BatchAugmenter(new AugmentationOptions { HorizontalFlip = true, AlternateFlips = true, Translate = 2 });
        TrainingRun Run(TrainingOptions training, string? checkpoint = null, bool resume = false) =>
            new() { Model = model, Training = training, CheckpointPath = checkpoint, Resume = resume };

        using var straight = CnnTrainer.Train(train, null, 3, Run(settings), augmenter);
        var checkpoint = dir.File("checkpoint.bin");
        // The same run stopped in epoch 2 (its schedule and lookahead are paced by all three epochs' steps).
        using var stop = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => CnnTrainer.Train(train, null, 3, Run(settings, checkpoint), augmenter,
            new TrainingCallbacks { BatchCompleted = p => { if (p.Epoch == 2) stop.Cancel(); } }, stop.Token));
        using var resumed = CnnTrainer.Train(train, null, 3, Run(settings, checkpoint, resume: true), augmenter);

        Assert.Equal(straight.History.Select(h => h.TrainLoss), resumed.History.Select(h => h.TrainLoss));
        foreach (var (a, b) in straight.Network.state_dict().Values.Zip(resumed.Network.state_dict().Values))
            Assert.True(a.eq(b).all().item<bool>(), "state differs after resuming");
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void Mixed_precision_runs_the_passes_in_16_bits_while_weights_gradients_and_statistics_stay_float32(ScalarType type)
    {
        var definition = new NetworkDefinition("probe",
            [new Conv2d(4, KernelSize: 3, Padding: 1, Bias: false) { Name = "conv" }, new BatchNorm2d { Name = "norm" }, new Relu(), new Flatten(), new Linear { Name = "head" }]);
        random.manual_seed(5);
        using var master = Architectures.Create(definition, 3);
        using var reference = Architectures.Create(definition, 3);
        reference.load_state_dict(master.state_dict());
        using var precision = new MixedPrecision(master, Architectures.Create(definition, 3), type, batchSize: 8);
        // float16 scales the loss by the batch size for its backward pass (and the gradients back); bfloat16 needs no scale.
        Assert.Equal(type == ScalarType.Float16 ? 8 : 1, precision.LossScale);
        using var images = randn(8, 3, 32, 32);
        using var labels = tensor(new long[] { 0, 1, 2, 0, 1, 2, 0, 1 });

        precision.train();
        reference.train();
        precision.LoadFromMaster();
        // The 16-bit copy is the module's one registered submodule, "working".
        var working = precision.named_parameters().ToDictionary(p => p.name["working.".Length..], p => p.parameter);
        Assert.Equal(type, working["conv.weight"].dtype);
        Assert.Equal(ScalarType.Float32, working["norm.bias"].dtype); // BatchNorm stays float32
        Assert.True(working["conv.weight"].to(ScalarType.Float32).eq(master.get_parameter("conv.weight")!.to(type).to(ScalarType.Float32)).all().item<bool>());

        using var logits = precision.forward(images);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        precision.Scaled(nn.functional.cross_entropy(logits, labels)).backward();
        precision.StoreInMaster();
        nn.functional.cross_entropy(reference.forward(images), labels).backward();

        foreach (var (name, parameter) in master.named_parameters())
        {
            using var gradient = parameter.grad!;
            using var expected = reference.get_parameter(name)!.grad!;
            Assert.Equal(ScalarType.Float32, gradient.dtype);
            // 16 bits keep 8 (bfloat16) or 11 (float16) significant bits: gradients agree with float32's to a few per cent of their scale.
            double scale = expected.abs().max().item<float>();
            Assert.True((gradient - expected).abs().max().item<float>() <= 0.05 * scale, $"{name}'s gradient is off");
            Assert.Null(working[name].grad);
        }
        // The running statistics came back from the copy's float32 BatchNorm.
        using var mean = master.get_buffer("norm.running_mean")!;
        using var expectedMean = reference.get_buffer("norm.running_mean")!;
        Assert.True(mean.allclose(expectedMean, rtol: 0.02, atol: 0.01));
    }

    [Fact]
    public void Mixed_precision_keeps_updates_smaller_than_bfloat16s_resolution_in_the_float32_weights()
    {
        var definition = new NetworkDefinition("probe", [new Flatten(), new Linear(Bias: false) { Name = "head" }]);
        using var master = Architectures.Create(definition, 2);
        using (no_grad()) master.parameters().First().fill_(1f);
        using var precision = new MixedPrecision(master, Architectures.Create(definition, 2), ScalarType.BFloat16, batchSize: 1);
        using var sgd = Optimizers.Create(master, new TrainingOptions { Optimizer = OptimizerKind.Sgd, Momentum = 0, WeightDecay = 0, LearningRate = 1e-4 }, 1);
        precision.LoadFromMaster();
        sgd.ZeroGrad();
        precision.forward(ones(1, 3, 32, 32)).sum().backward();
        precision.StoreInMaster();
        sgd.Step(1);
        // Each weight's gradient is 1: it moves by 1e-4, far below bfloat16's step of 2⁻⁷ at 1 (it would round back to 1).
        Assert.Equal(1 - 1e-4, master.parameters().First()[0, 0].item<float>(), 6);
    }

    [Fact]
    public void The_fast_recipe_preset_is_configs_fast_json_and_recipes_are_read_like_config_files()
    {
        var fast = CifarRecipe.Fast;
        Assert.Equal(AirbenchNet.Name, fast.Model.Architecture);
        Assert.Equal(TestTimeAugmentation.MirrorTranslate, fast.Model.TestTimeAugmentation);
        Assert.Equal((10, 1024, OptimizerKind.Nesterov, 0.2, 5), (fast.Training.Epochs, fast.Training.BatchSize, fast.Training.Optimizer,
            fast.Training.LabelSmoothing, fast.Training.LookaheadInterval));
        Assert.Equal([0.4914f, 0.4822f, 0.4465f], fast.Normalization.Mean);
        Assert.True(fast.Augmentation is { AlternateFlips: true, Translate: 2, RotationDegrees: 0 });
        var file = File.ReadAllText(Path.Combine(Cifar.Tests.TestData.RepoRoot(), "configs", "fast.json"));
        string Json(CifarRecipe r) => System.Text.Json.JsonSerializer.Serialize(r); // records holding lists compare by reference
        Assert.Equal(Json(CifarRecipe.FromJson(file)), Json(fast));

        // Keys in any case, choices by name; what is left out keeps the tutorial's default.
        var recipe = CifarRecipe.FromJson("""{ "training": { "epochs": 3, "optimizer": "sgd" } }""");
        Assert.Equal(Json(CifarRecipe.Tutorial with { Training = new TrainingOptions { Epochs = 3, Optimizer = OptimizerKind.Sgd } }), Json(recipe));
        Assert.Throws<System.Text.Json.JsonException>(() => CifarRecipe.FromJson("""{ "Training": { "Epoch": 3 } }"""));
        Assert.Throws<System.Text.Json.JsonException>(() => CifarRecipe.FromJson("""{ "Training": null }"""));
        Assert.Throws<System.Text.Json.JsonException>(() => CifarRecipe.FromJson("""{ "Model": { "Network": { "Name": "n", "Layers": [ { "Name": "x" } ] } } }"""));
        // A layer's Type may come after its other keys, as in network files.
        var network = CifarRecipe.FromJson("""{ "Model": { "Network": { "Name": "n", "Layers": [ { "Name": "f", "Type": "Flatten" }, { "Type": "Linear" } ] } } }""");
        Assert.Equal(2, network.Model.Network!.Layers.Count);
        var outOfRange = Assert.Throws<OptionsException>(() => CifarRecipe.FromJson("""{ "Training": { "Precision": "Float32", "Momentum": 1 } }"""));
        Assert.Equal("Training:Momentum", outOfRange.Key);
    }

    private sealed class TopLeftAndMean() : nn.Module<Tensor, Tensor>("probe")
    {
        public override Tensor forward(Tensor x) =>
            stack(new[] { x.select(1, 0).select(1, 0).select(1, 0), x.mean(new long[] { 1, 2, 3 }) }, 1);
    }
}
