using Cifar.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

using static Cifar.Trainer.Tests.TestRuns;

namespace Cifar.Trainer.Tests;

public class TrainingTests
{
    /// <summary>A learnable toy set: class c (of 3) has a bright channel c (pixels 153–229), the others dark (25–101).</summary>
    private static TensorDataset ToySet(int count, int seed)
    {
        using var g = new Generator((ulong)seed);
        var labels = randint(0, 3, new long[] { count }, generator: g);
        var noise = randint(25, 102, new long[] { count, 3, 32, 32 }, generator: g);
        var bright = nn.functional.one_hot(labels, 3).view(count, 3, 1, 1) * 128;
        return new TensorDataset((noise + bright).to(ScalarType.Byte), labels, PixelNormalization.Tutorial);
    }

    private static readonly TrainingOptions Quick = new() { Epochs = 2, BatchSize = 16, Device = ComputeDevice.Cpu, Seed = 5 };

    [Fact]
    public void Loss_goes_down_and_a_learnable_toy_set_is_learned()
    {
        using var train = ToySet(192, seed: 1);
        using var validation = ToySet(96, seed: 2);
        var epochs = new List<EpochMetrics>();
        using var trained = CnnTrainer.Train(train, validation, 3, Run(Quick with { Epochs = 3 }),
            callbacks: new TrainingCallbacks { EpochCompleted = epochs.Add });
        Assert.Equal(3, trained.History.Count);
        Assert.Equal(epochs, trained.History);
        Assert.True(trained.History[^1].TrainLoss < trained.History[0].TrainLoss,
            $"train loss {trained.History[0].TrainLoss} → {trained.History[^1].TrainLoss}");
        Assert.True(trained.History[^1].ValidationAccuracy > 0.9, $"validation accuracy {trained.History[^1].ValidationAccuracy}");
        Assert.All(trained.History, m => Assert.True(m.Seconds > 0));
    }

    [Fact]
    public void Same_seed_gives_the_same_weights_and_history_on_the_cpu()
    {
        using var train = ToySet(64, seed: 3);
        using var a = CnnTrainer.Train(train, null, 3, Run(Quick));
        using var b = CnnTrainer.Train(train, null, 3, Run(Quick));
        Assert.Equal(a.History.Select(h => h.TrainLoss), b.History.Select(h => h.TrainLoss));
        foreach (var (pa, pb) in a.Network.parameters().Zip(b.Network.parameters()))
            Assert.True(pa.allclose(pb, rtol: 0, atol: 0), "parameters differ between two runs with the same seed");
        using var c = CnnTrainer.Train(train, null, 3, Run(Quick with { Seed = 6 }));
        Assert.False(a.Network.parameters().First().allclose(c.Network.parameters().First(), rtol: 0, atol: 0));
    }

    [Fact]
    public void A_validation_interval_scores_every_nth_epoch_and_the_last_or_only_the_last_and_trains_the_same_weights()
    {
        using var train = ToySet(64, seed: 6);
        using var validation = ToySet(32, seed: 7);
        using var every = CnnTrainer.Train(train, validation, 3, Run(Quick with { Epochs = 5 }));
        using var sparse = CnnTrainer.Train(train, validation, 3, Run(Quick with { Epochs = 5, ValidationInterval = 2 }));

        // Epochs 2 and 4 by the interval, 5 as the last; their scores are those of the run that validates every epoch.
        Assert.Equal(new[] { false, true, false, true, true }, sparse.History.Select(m => m.ValidationAccuracy is not null));
        Assert.All(sparse.History, m => Assert.Equal(m.ValidationAccuracy is null, m.ValidationLoss is null));
        var scored = new[] { 2, 4, 5 };
        Assert.Equal(every.History.Where(m => scored.Contains(m.Epoch)).Select(m => (m.ValidationLoss, m.ValidationAccuracy)),
            sparse.History.Where(m => scored.Contains(m.Epoch)).Select(m => (m.ValidationLoss, m.ValidationAccuracy)));
        // Validating changes nothing that trains.
        Assert.Equal(every.History.Select(m => (m.TrainLoss, m.TrainAccuracy)), sparse.History.Select(m => (m.TrainLoss, m.TrainAccuracy)));
        foreach (var (a, b) in every.Network.parameters().Zip(sparse.Network.parameters()))
            Assert.True(a.allclose(b, rtol: 0, atol: 0), "weights differ with another validation interval");

        // 0: the last epoch only, whatever the epoch count.
        using var lastOnly = CnnTrainer.Train(train, validation, 3, Run(Quick with { Epochs = 5, ValidationInterval = 0 }));
        Assert.Equal(new[] { false, false, false, false, true }, lastOnly.History.Select(m => m.ValidationAccuracy is not null));
        Assert.Equal((every.History[^1].ValidationLoss, every.History[^1].ValidationAccuracy),
            (lastOnly.History[^1].ValidationLoss, lastOnly.History[^1].ValidationAccuracy));
    }

    [Fact]
    public void Batch_callbacks_count_every_batch_including_a_short_last_one()
    {
        using var train = ToySet(40, seed: 4);
        var batches = new List<BatchProgress>();
        using var _ = CnnTrainer.Train(train, null, 3, Run(Quick with { Epochs = 1 }),
            callbacks: new TrainingCallbacks { BatchCompleted = batches.Add });
        Assert.Equal(new[] { 1, 2, 3 }, batches.Select(b => b.Batch));
        Assert.All(batches, b => Assert.Equal(3, b.BatchCount));
        Assert.Null(_.History[0].ValidationAccuracy);
    }

    [Fact]
    public void Cancellation_stops_training_between_batches()
    {
        using var train = ToySet(64, seed: 5);
        using var cancel = new CancellationTokenSource();
        int seen = 0;
        var callbacks = new TrainingCallbacks { BatchCompleted = _ => { if (++seen == 2) cancel.Cancel(); } };
        Assert.ThrowsAny<OperationCanceledException>(() =>
            CnnTrainer.Train(train, null, 3, Run(Quick), callbacks: callbacks, cancellation: cancel.Token));
        Assert.Equal(2, seen);
    }

    [Fact]
    public void Evaluate_computes_mean_loss_and_accuracy()
    {
        // A network that always answers class 0 with logits (1, 0, 0): loss = ln(e + 2) − 1 per image.
        using var network = nn.Sequential(("flatten", nn.Flatten()), ("fc", nn.Linear(3 * 32 * 32, 3)));
        using (no_grad())
        {
            var fc = (TorchSharp.Modules.Linear)network.named_children().Last().module;
            fc.weight!.zero_();
            fc.bias!.copy_(tensor(new float[] { 1, 0, 0 }));
        }
        // Pixel 0 with mean 0 and std 1 is a normalized 0.
        var zeroMeanUnitStd = new PixelNormalization(new[] { 0f, 0f, 0f }, new[] { 1f, 1f, 1f });
        using var data = new TensorDataset(zeros(4, 3, 32, 32, dtype: ScalarType.Byte), tensor(new long[] { 0, 0, 1, 2 }), zeroMeanUnitStd);
        var (loss, accuracy) = CnnTrainer.Evaluate(network, data, batchSize: 3);
        Assert.Equal(0.5, accuracy, 6);
        double perImageLoss0 = Math.Log(Math.E + 2) - 1, perImageLossOther = Math.Log(Math.E + 2);
        Assert.Equal((2 * perImageLoss0 + 2 * perImageLossOther) / 4, loss, 5);
    }

    [Fact]
    public void Evaluate_counts_true_against_predicted_classes()
    {
        // The network predicts class 0 for dark images and class 2 for bright ones (a single linear unit on the mean).
        using var network = nn.Sequential(("flatten", nn.Flatten()), ("fc", nn.Linear(3 * 32 * 32, 3)));
        using (no_grad())
        {
            var fc = (TorchSharp.Modules.Linear)network.named_children().Last().module;
            fc.weight!.zero_();
            fc.weight[2].fill_(1.0f);
            fc.bias!.copy_(tensor(new float[] { 0, -100, -1000 }));
        }
        // True labels 0, 1, 2, 2, 1; brightness 0, 0, 1, 1, 1 (pixels 0 and 255, mean 0, std 1) → predicted 0, 0, 2, 2, 2.
        var bright = tensor(new byte[] { 0, 0, 255, 255, 255 }).view(5, 1, 1, 1);
        var zeroMeanUnitStd = new PixelNormalization(new[] { 0f, 0f, 0f }, new[] { 1f, 1f, 1f });
        using var data = new TensorDataset(bright.expand(5, 3, 32, 32).contiguous(), tensor(new long[] { 0, 1, 2, 2, 1 }), zeroMeanUnitStd);
        var result = CnnTrainer.Evaluate(network, data, batchSize: 2);
        Assert.Equal(new[] { new long[] { 1, 0, 0 }, new long[] { 1, 0, 1 }, new long[] { 0, 0, 2 } }, result.ConfusionMatrix);
        Assert.Equal(3.0 / 5, result.Accuracy, 9);
    }

    [Fact]
    public void Pixels_are_normalized_like_ToTensor_then_Normalize()
    {
        // Bytes 0, 128, 255 in every channel; mean (0.5, 0.4, 0.3), std (0.5, 0.2, 0.1).
        var normalization = new PixelNormalization(new[] { 0.5f, 0.4f, 0.3f }, new[] { 0.5f, 0.2f, 0.1f });
        var values = new byte[] { 0, 128, 255 };
        var pixels = tensor(values, new long[] { 3, 1, 1, 1 }).expand(3, 3, 2, 2).contiguous();
        using var data = new TensorDataset(pixels, tensor(new long[] { 0, 1, 2 }), normalization);
        Assert.Equal(ScalarType.Byte, data.Images.dtype);
        using var normalized = data.Normalized(tensor(new long[] { 2, 0, 1 }));
        var got = normalized.data<float>().ToArray();
        int[] order = { 2, 0, 1 };
        for (int i = 0; i < 3; i++)
            for (int c = 0; c < 3; c++)
                for (int k = 0; k < 4; k++)
                {
                    double expected = (values[order[i]] / 255.0 - normalization.Mean[c]) / normalization.Std[c];
                    Assert.Equal(expected, got[(i * 3 + c) * 4 + k], 5);
                }
        // Augmentation's [0, 1] pixel view and its normalization give the same numbers.
        using var index = tensor(new long[] { 1 });
        using var viaPixels = data.NormalizePixels(data.Pixels(index));
        using var direct = data.Normalized(index);
        Assert.True(viaPixels.allclose(direct, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void Cpu_always_resolves_and_auto_takes_the_gpu_when_there_is_one()
    {
        Assert.Equal(DeviceType.CPU, DeviceSelector.Resolve(ComputeDevice.Cpu).type);
        Assert.Equal(cuda.is_available() ? DeviceType.CUDA : DeviceType.CPU, DeviceSelector.Resolve(ComputeDevice.Auto).type);
    }

    [Fact]
    public void Cuda_resolves_where_there_is_a_gpu()
    {
        if (!cuda.is_available()) Assert.Skip("no CUDA GPU here");
        Assert.Equal(DeviceType.CUDA, DeviceSelector.Resolve(ComputeDevice.Cuda).type);
    }

    [Fact]
    public void Cuda_without_a_gpu_is_a_clear_error()
    {
        if (cuda.is_available()) Assert.Skip("a CUDA GPU is present: the error is for machines without one");
        var error = Assert.Throws<InvalidOperationException>(() => DeviceSelector.Resolve(ComputeDevice.Cuda));
        Assert.Contains("cuda", error.Message);
    }

    [Fact]
    public void Channels_last_keeps_the_values_and_strides_channels_innermost()
    {
        using var images = arange(2 * 3 * 4 * 5, dtype: ScalarType.Float32).view(2, 3, 4, 5);
        using var last = ChannelsLast.Of(images);
        Assert.Equal(images.shape, last.shape);
        Assert.True(last.eq(images).all().item<bool>());
        // NHWC in memory: a channel step is 1 element, a column step 3 (the channels), a row 5 × 3, an image 4 × 15.
        Assert.Equal(new long[] { 60, 1, 15, 3 }, last.stride());
    }

    [Fact]
    public void Channels_last_is_told_from_the_strides()
    {
        using var scope = NewDisposeScope();
        var images = rand(2, 3, 4, 5);
        Assert.False(ChannelsLast.Has(images));
        Assert.True(ChannelsLast.Has(ChannelsLast.Of(images)));
        Assert.False(ChannelsLast.Has(ChannelsLast.Of(rand(2, 1, 4, 5))));  // one channel: both layouts alike, told NCHW
        Assert.True(ChannelsLast.Has(rand(2, 3, 1, 1)));                    // one value per channel: both alike, told channels-last
        Assert.False(ChannelsLast.Has(rand(2, 3)));
    }

    [Fact]
    public void A_float32_training_batch_keeps_its_layout_on_the_cpu()
    {
        // float32 passes (the tutorial's) must stay bit for bit what they were: the very batch goes into the network.
        using var images = rand(2, 3, 4, 5);
        Assert.Same(images, ChannelsLast.ForTraining(images, sixteenBitPasses: false));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_16_bit_training_batch_on_the_cpu_is_channels_last_where_oneDNN_may_use_AVX512(bool avx512)
    {
        using var scope = NewDisposeScope();
        var images = rand(2, 3, 4, 5);
        var batch = ChannelsLast.ForTraining(images, sixteenBitPasses: true, avx512);
        if (avx512) Assert.Equal(new long[] { 60, 1, 15, 3 }, batch.stride());
        else Assert.Same(images, batch);
        Assert.True(batch.eq(images).all().item<bool>());
        Assert.Same(images, ChannelsLast.ForTraining(images, sixteenBitPasses: false, avx512));
    }

    [Fact]
    public void A_training_batch_on_a_gpu_is_channels_last_for_16_bit_passes_only()
    {
        if (!cuda.is_available()) Assert.Skip("no CUDA GPU here");
        using var images = rand(2, 3, 4, 5, device: CUDA);
        using var last = ChannelsLast.ForTraining(images, sixteenBitPasses: true);
        Assert.Equal(new long[] { 60, 1, 15, 3 }, last.stride());
        Assert.Same(images, ChannelsLast.ForTraining(images, sixteenBitPasses: false));
    }
}

public class CheckpointTests
{
    private static TensorDataset ToySet(int count, int seed) => RandomSet(count, seed);

    private static readonly Cifar.Trainer.Augmentation.BatchAugmenter Augmenter = new(AugmentationOptions.Tutorial);

    [Theory]
    [InlineData(1)]
    [InlineData(3)] // another validation interval on resume: not result-defining
    [InlineData(0)] // the last epoch only
    public void Resuming_from_a_checkpoint_gives_the_uninterrupted_runs_weights_bit_for_bit(int resumedValidationInterval)
    {
        using var dir = new Cifar.Tests.TestData.TempFolder();
        using var train = ToySet(48, seed: 1);
        using var validation = ToySet(16, seed: 2);
        var settings = new TrainingOptions { Epochs = 3, BatchSize = 16, Device = ComputeDevice.Cpu, Seed = 3 };
        using var straight = CnnTrainer.Train(train, validation, 3, Run(settings), Augmenter);

        var checkpoint = dir.File("checkpoint.bin");
        using (CnnTrainer.Train(train, validation, 3, Run(settings with { Epochs = 1 }, checkpoint), Augmenter)) { }
        IReadOnlyList<EpochMetrics>? resumedFrom = null;
        using var resumed = CnnTrainer.Train(train, validation, 3,
            Run(settings with { ValidationInterval = resumedValidationInterval }, checkpoint, resume: true), Augmenter,
            new TrainingCallbacks { Resumed = h => resumedFrom = h });

        Assert.Single(resumedFrom!);
        // Epoch 2 is validated only every epoch, the last always; where they are, their figures are the uninterrupted run's.
        Assert.Equal(resumedValidationInterval == 1 ? [true, true, true] : new[] { true, false, true },
            resumed.History.Select(m => m.ValidationAccuracy is not null));
        Assert.Equal(straight.History.Select(h => (h.TrainLoss, h.TrainAccuracy)), resumed.History.Select(h => (h.TrainLoss, h.TrainAccuracy)));
        foreach (var (a, b) in straight.History.Zip(resumed.History).Where(p => p.Second.ValidationAccuracy is not null))
            Assert.Equal((a.ValidationLoss, a.ValidationAccuracy), (b.ValidationLoss, b.ValidationAccuracy));
        foreach (var (a, b) in straight.Network.parameters().Zip(resumed.Network.parameters()))
            Assert.True(a.allclose(b, rtol: 0, atol: 0), "weights differ after resuming");
    }

    [Fact]
    public void The_validation_interval_is_left_out_of_the_fingerprint_so_old_checkpoints_keep_its_bytes()
    {
        using var train = ToySet(16, seed: 1);
        var settings = new TrainingOptions { Epochs = 3, BatchSize = 16, Device = ComputeDevice.Cpu, Seed = 3 };
        string fingerprint = Checkpoint.Fingerprint(Run(settings with { ValidationInterval = 3 }), 3, train, null, DeviceType.CPU);
        Assert.DoesNotContain("ValidationInterval", fingerprint);
        Assert.Equal(Checkpoint.Fingerprint(Run(settings), 3, train, null, DeviceType.CPU), fingerprint);
    }

    [Fact]
    public void A_resume_with_another_normalization_is_refused()
    {
        using var dir = new Cifar.Tests.TestData.TempFolder();
        using var train = ToySet(32, seed: 1);
        // The same pixels, normalized otherwise.
        using var otherwise = RandomSet(32, seed: 1, new PixelNormalization(new[] { 0.4f, 0.5f, 0.5f }, new[] { 0.5f, 0.5f, 0.5f }));
        var checkpoint = dir.File("c.bin");
        var run = Run(new TrainingOptions { Epochs = 1, BatchSize = 16, Device = ComputeDevice.Cpu }, checkpoint);
        using (CnnTrainer.Train(train, null, 3, run)) { }
        var other = run with { Training = run.Training with { Epochs = 2 }, Resume = true };
        var error = Assert.Throws<CheckpointException>(() => CnnTrainer.Train(otherwise, null, 3, other));
        Assert.Equal($"{checkpoint}: made with other settings: Normalization:Mean:0 was 0.5, now 0.4", error.Message);
        using var same = CnnTrainer.Train(train, null, 3, other);
        Assert.Equal(2, same.History.Count);
    }

    [Fact]
    public void A_checkpoint_from_other_settings_is_refused()
    {
        using var dir = new Cifar.Tests.TestData.TempFolder();
        using var train = ToySet(16, seed: 1);
        var settings = new TrainingOptions { Epochs = 1, BatchSize = 16, Device = ComputeDevice.Cpu };
        var checkpoint = dir.File("c.bin");
        using (CnnTrainer.Train(train, null, 3, Run(settings, checkpoint))) { }
        var error = Assert.Throws<CheckpointException>(() =>
            CnnTrainer.Train(train, null, 3, Run(settings with { Epochs = 2, LearningRate = 0.5 }, checkpoint, resume: true)));
        Assert.Equal($"{checkpoint}: made with other settings: Training:LearningRate was 0.001, now 0.5", error.Message);
        File.WriteAllText(dir.File("c.bin"), "garbage");
        Assert.Contains("c.bin", Assert.Throws<CheckpointException>(() =>
            CnnTrainer.Train(train, null, 3, Run(settings, checkpoint, resume: true))).Message);
    }

    [Fact]
    public void A_non_finite_loss_stops_training_naming_the_epoch_and_step()
    {
        using var train = ToySet(64, seed: 4);
        var error = Assert.Throws<TrainingDivergedException>(() => CnnTrainer.Train(train, null, 3,
            Run(new TrainingOptions { Epochs = 2, BatchSize = 8, LearningRate = 1e12, Device = ComputeDevice.Cpu, Optimizer = OptimizerKind.Sgd })));
        Assert.Equal(1, error.Epoch);
        Assert.InRange(error.Step, 1, 8);
        Assert.Contains($"epoch 1, step {error.Step}", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Live_tensors_do_not_grow_over_hundreds_of_training_steps(bool fastRecipe)
    {
        using var train = ToySet(32, seed: 5);
        // Not flushed: the run stays on this thread, whose live-tensor count is what TorchSharp keeps.
        var settings = new TrainingOptions { Epochs = 1, BatchSize = 2, Device = ComputeDevice.Cpu, FlushDenormals = false };
        // The fast recipe's path: whitening, lookahead, Nesterov, label smoothing, a bfloat16 working copy, its augmentation.
        var model = new ModelOptions();
        var augmenter = Augmenter;
        if (fastRecipe)
        {
            model = CifarRecipe.Fast.Model with { TestTimeAugmentation = TestTimeAugmentation.None };
            settings = CifarRecipe.Fast.Training with { Epochs = 1, BatchSize = 2, Device = ComputeDevice.Cpu, FlushDenormals = false, Precision = TrainingPrecision.BFloat16 };
            augmenter = new(CifarRecipe.Fast.Augmentation);
        }
        long LiveAfter(int epochs)
        {
            long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            using (CnnTrainer.Train(train, null, 3, Run(settings with { Epochs = epochs }) with { Model = model }, augmenter)) { }
            return DisposeScopeManager.Statistics.ThreadTotalLiveCount - before;
        }
        LiveAfter(1); // warm-up: tensors libtorch creates once
        long shortRun = LiveAfter(1), longRun = LiveAfter(20); // 16 and 320 steps
        Assert.True(longRun <= shortRun, $"live tensors after 320 steps: +{longRun}, after 16 steps: +{shortRun}");
        Assert.True(shortRun <= 0, $"a finished, disposed run leaves {shortRun} live tensors");
    }

    [Fact]
    public void Live_tensors_do_not_grow_over_the_epochs_of_a_run_on_its_own_flushing_thread()
    {
        using var train = ToySet(32, seed: 5);
        var settings = new TrainingOptions { Epochs = 20, BatchSize = 2, Device = ComputeDevice.Cpu, FlushDenormals = true };
        var live = new List<long>();
        // Read on the training thread, after each epoch of 16 steps.
        var callbacks = new TrainingCallbacks { EpochCompleted = _ => live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount) };
        using (CnnTrainer.Train(train, null, 3, Run(settings), Augmenter, callbacks)) { }
        Assert.Equal(20, live.Count);
        Assert.True(live[^1] <= live[1], $"live tensors on the training thread after epoch 2: {live[1]}, after epoch 20: {live[^1]}");
    }
}

public class FlatAdamTests
{
    [Fact]
    public void Flat_adam_takes_the_steps_of_torchs_adam()
    {
        // Two copies of SeedCnn, same batches: TorchSharp's optim.Adam (torch.optim.Adam's update) and FlatAdam.
        random.manual_seed(3);
        using var reference = Cifar.Networks.Architectures.Create("SeedCnn", 10);
        using var flat = Cifar.Networks.Architectures.Create("SeedCnn", 10);
        using (no_grad())
            foreach (var (a, b) in reference.parameters().Zip(flat.parameters())) b.copy_(a);
        using var initial = reference.parameters().First().detach().clone();
        using var torchAdam = optim.Adam(reference.parameters(), 0.001, weight_decay: 5e-4);
        using var flatAdam = new FlatAdam(flat, 0.001, 5e-4);
        using var images = rand(new long[] { 8 * 16, 3, 32, 32 }, generator: new Generator(4)) * 2 - 1;
        using var labels = randint(0, 10, new long[] { 8 * 16 }, generator: new Generator(5));
        for (int step = 0; step < 8; step++)
        {
            using var scope = NewDisposeScope();
            var x = images.narrow(0, step * 16, 16);
            var y = labels.narrow(0, step * 16, 16);
            torchAdam.zero_grad();
            nn.functional.cross_entropy(reference.forward(x), y).backward();
            torchAdam.step();
            flatAdam.ZeroGrad();
            nn.functional.cross_entropy(flat.forward(x), y).backward();
            flatAdam.Step(1);
        }
        foreach (var (a, b) in reference.parameters().Zip(flat.parameters()))
            Assert.True(a.allclose(b, rtol: 1e-5, atol: 1e-7), $"max difference {(a - b).abs().max().item<float>()}");
        Assert.False(flat.parameters().First().allclose(initial, rtol: 0, atol: 1e-4), "the steps moved the weights");
    }
}
