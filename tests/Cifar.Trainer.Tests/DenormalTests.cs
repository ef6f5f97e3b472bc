using Cifar.Networks;
using Cifar.Trainer.Native;
using Cifar.Trainer.Onnx;
using Cifar.Trainer.Training;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

using static Cifar.Trainer.Tests.TestRuns;

namespace Cifar.Trainer.Tests;

/// <summary>
/// Denormal flushing (Training:FlushDenormals): where it applies, libtorch's arithmetic turns denormal inputs
/// and results into exact zeros, on the thread that trains and on libtorch's worker threads.
/// </summary>
public class DenormalTests
{
    // The bits of ≈ 1.0e-39, a denormal float, in a mutable field: the JIT cannot fold them into a constant, which it
    // would compute with its own thread's arithmetic (zero when the code is compiled on a flushing thread).
    private static int _denormalBits = 0x000AE398;

    /// <summary>A denormal float, made from its bits at run time (a bit move, no arithmetic that could flush it).</summary>
    private static float Denormal => BitConverter.Int32BitsToSingle(_denormalBits);

    /// <summary>Elements in the probe: far above libtorch's grain size (32,768), so every worker thread takes a share.</summary>
    private const int ProbeSize = 1 << 22;

    private static void SkipUnlessFlushingWorks()
    {
        if (!DenormalFlushing.IsSupported) Assert.Skip("denormals can be flushed on x86-64 Linux only");
        if (get_num_threads() < 2) Assert.Skip($"libtorch runs {get_num_threads()} thread here: no worker threads to check");
    }

    /// <summary>
    /// x + x over <see cref="ProbeSize"/> denormals in libtorch (split across its threads), and the same sum in .NET
    /// on the calling thread: how many of libtorch's results are exactly zero (by their bits: with denormals-are-zero
    /// on, a comparison would call a denormal zero too), and whether the processor flushes on the calling thread.
    /// </summary>
    private static (long LibtorchZeros, bool CallingThreadFlushes) Probe()
    {
        using var scope = NewDisposeScope();
        var sum = Denormals(ProbeSize) + Denormals(ProbeSize);
        long zeros = ProbeSize - NonZeros(sum);
        float d = Denormal;
        return (zeros, d + d == 0f);
    }

    [Fact]
    public void With_flushing_on_every_libtorch_thread_gives_zeros_and_without_none_does()
    {
        SkipUnlessFlushingWorks();
        var on = DenormalFlushing.Run(true, Probe);
        Assert.Equal((ProbeSize, true), on);
        var off = DenormalFlushing.RunOnNewThread(Probe, flush: false);
        Assert.Equal((0L, false), off);
    }

    [Fact]
    public void Setting_it_on_a_thread_whose_workers_already_exist_misses_the_workers()
    {
        // Why Run starts a new thread: PyTorch's set_flush_denormal on a thread that has computed before reaches
        // that thread only. Also shows that the probe is split across threads, so "all zeros" covers the workers.
        SkipUnlessFlushingWorks();
        var (before, after) = DenormalFlushing.RunOnNewThread(() =>
        {
            var first = Probe();
            DenormalFlushing.SetOnCurrentThread(true);
            return (first, Probe());
        }, flush: false);
        Assert.Equal((0L, false), before);
        Assert.True(after.CallingThreadFlushes);
        Assert.InRange(after.LibtorchZeros, 1, ProbeSize - 1);
    }

    /// <summary>Whether the calling thread's .NET arithmetic flushes (a denormal doubled is zero).</summary>
    private static bool Flushes()
    {
        float d = Denormal;
        return d + d == 0f;
    }

    /// <summary>
    /// A probe made in a callback of a flushed run: libtorch's workers, whose team the training thread created flushed,
    /// give zeros; the callback's own thread computes with the caller's setting (not flushing), so its share does not.
    /// </summary>
    private static void AssertWorkersFlushAndTheCallbackDoesNot((long LibtorchZeros, bool CallingThreadFlushes)? seen)
    {
        Assert.NotNull(seen);
        Assert.False(seen.Value.CallingThreadFlushes, "the callback ran with denormals flushed");
        Assert.InRange(seen.Value.LibtorchZeros, 1, ProbeSize - 1);
    }

    [Fact]
    public void Training_runs_flushed_on_its_workers_only_when_the_option_is_on_and_calls_back_with_the_callers_setting()
    {
        SkipUnlessFlushingWorks();
        Assert.False(Flushes(), "the test's thread flushes before the test");
        using var train = ToySet(32);
        var settings = new TrainingOptions { Epochs = 1, BatchSize = 16, Device = ComputeDevice.Cpu };
        (long, bool)? seen = null;
        var callbacks = new TrainingCallbacks { BatchCompleted = _ => seen ??= Probe() };
        using (CnnTrainer.Train(train, null, 3, Run(settings), callbacks: callbacks)) { }
        AssertWorkersFlushAndTheCallbackDoesNot(seen);

        seen = null;
        using (DenormalFlushing.RunOnNewThread(() => CnnTrainer.Train(train, null, 3, Run(settings with { FlushDenormals = false }), callbacks: callbacks), flush: false)) { }
        Assert.Equal((0L, false), seen);
    }

    [Fact]
    public void A_resumed_run_keeps_flushing_and_a_checkpoint_from_the_other_setting_is_refused()
    {
        SkipUnlessFlushingWorks();
        using var dir = new Cifar.Tests.TestData.TempFolder();
        using var train = ToySet(32);
        var settings = new TrainingOptions { Epochs = 1, BatchSize = 16, Device = ComputeDevice.Cpu };
        var checkpoint = dir.File("c.bin");
        using (CnnTrainer.Train(train, null, 3, Run(settings, checkpoint))) { }

        (long, bool)? seen = null;
        var callbacks = new TrainingCallbacks { BatchCompleted = _ => seen ??= Probe() };
        var error = Assert.Throws<CheckpointException>(() =>
            CnnTrainer.Train(train, null, 3, Run(settings with { Epochs = 2, FlushDenormals = false }, checkpoint, resume: true), callbacks: callbacks));
        Assert.Equal($"{checkpoint}: made with other settings: Training:FlushDenormals was true, now false", error.Message);
        using var resumed = CnnTrainer.Train(train, null, 3, Run(settings with { Epochs = 2 }, checkpoint, resume: true), callbacks: callbacks);
        Assert.Equal(2, resumed.History.Count);
        AssertWorkersFlushAndTheCallbackDoesNot(seen);
    }

    [Fact]
    public void A_thread_a_callback_starts_does_not_inherit_flushing()
    {
        // As a thread-pool thread that .NET starts when a callback queues work (or a logger's thread) would: a thread
        // inherits its creator's bits, and would flush in all its later .NET arithmetic.
        SkipUnlessFlushingWorks();
        using var train = ToySet(32);
        bool? started = null;
        var callbacks = new TrainingCallbacks
        {
            BatchCompleted = _ =>
            {
                if (started is not null) return;
                var thread = new Thread(() => started = Flushes());
                thread.Start();
                thread.Join();
            },
        };
        using (CnnTrainer.Train(train, null, 3, Run(new TrainingOptions { Epochs = 1, BatchSize = 16, Device = ComputeDevice.Cpu }), callbacks: callbacks)) { }
        Assert.False(started);
    }

    public enum Ending { Finished, CallbackThrew, Cancelled }

    [Theory]
    [InlineData(false, Ending.Finished)]
    [InlineData(false, Ending.CallbackThrew)]
    [InlineData(false, Ending.Cancelled)]
    [InlineData(true, Ending.Finished)]
    [InlineData(true, Ending.CallbackThrew)]
    [InlineData(true, Ending.Cancelled)]
    public void The_calling_threads_setting_is_the_same_after_training_however_it_ends(bool callerFlushes, Ending ending)
    {
        SkipUnlessFlushingWorks();
        using var train = ToySet(32);
        using var stop = new CancellationTokenSource();
        // A caller of either setting, on a thread of the test's own (so the test's thread is not changed).
        var (before, inCallback, after, failure) = DenormalFlushing.RunOnNewThread(() =>
        {
            bool before = Flushes();
            bool? inCallback = null;
            var callbacks = new TrainingCallbacks
            {
                BatchCompleted = _ =>
                {
                    inCallback ??= Flushes();
                    if (ending == Ending.CallbackThrew) throw new InvalidOperationException("callback failed");
                    if (ending == Ending.Cancelled) stop.Cancel();
                },
            };
            Exception? failure = null;
            try
            {
                using (CnnTrainer.Train(train, null, 3, Run(new TrainingOptions { Epochs = 2, BatchSize = 16, Device = ComputeDevice.Cpu }),
                           callbacks: callbacks, cancellation: stop.Token)) { }
            }
            catch (Exception e)
            {
                failure = e;
            }
            return (before, inCallback, Flushes(), failure);
        }, flush: callerFlushes);
        Assert.Equal(callerFlushes, before);
        Assert.Equal(callerFlushes, inCallback); // the callbacks compute as their caller does
        Assert.Equal(before, after);
        switch (ending)
        {
            case Ending.Finished: Assert.Null(failure); break;
            case Ending.CallbackThrew: Assert.Equal("callback failed", Assert.IsType<InvalidOperationException>(failure).Message); break;
            case Ending.Cancelled: Assert.IsType<OperationCanceledException>(failure, exactMatch: false); break;
        }
    }

    [Fact]
    public void A_checkpoint_of_the_format_before_normalization_was_recorded_is_refused_saying_why()
    {
        using var dir = new Cifar.Tests.TestData.TempFolder();
        using var train = ToySet(32);
        var settings = new TrainingOptions { Epochs = 1, BatchSize = 16, Device = ComputeDevice.Cpu };
        var checkpoint = dir.File("c.bin");
        using (CnnTrainer.Train(train, null, 3, Run(settings, checkpoint))) { }
        // The same checkpoint under the previous format's magic string.
        byte[] rest;
        using (var reader = new BinaryReader(File.OpenRead(checkpoint)))
        {
            Assert.Equal("CIFAR-CHECKPOINT-3", reader.ReadString());
            rest = reader.ReadBytes((int)(reader.BaseStream.Length - reader.BaseStream.Position));
        }
        using (var writer = new BinaryWriter(File.Create(checkpoint)))
        {
            writer.Write("CIFAR-CHECKPOINT-2");
            writer.Write(rest);
        }
        var error = Assert.Throws<CheckpointException>(() =>
            CnnTrainer.Train(train, null, 3, Run(settings with { Epochs = 2 }, checkpoint, resume: true)));
        Assert.Equal($"{checkpoint}: written by an older Cifar (checkpoint format 2, which does not record the normalization); start the run again", error.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void An_adam_step_over_denormal_state_leaves_zeros_only_when_flushing(bool flush)
    {
        SkipUnlessFlushingWorks();
        // Adam's moving averages decay by 0.9 and 0.999 per step where gradients are zero: that is how they
        // reach the denormal range. State = denormals, gradients = 0, no weight decay: one step.
        var (expAvg, expAvgSq, weights) = DenormalFlushing.RunOnNewThread(() =>
        {
            using var network = nn.Sequential(("fc", nn.Linear(64, 32)));
            using var adam = new FlatAdam(network, 1e-3, 0);
            long count = network.parameters().Sum(p => p.numel());
            (long, long) State()
            {
                using var saved = new MemoryStream();
                using (var writer = new BinaryWriter(saved, System.Text.Encoding.UTF8, leaveOpen: true)) adam.Save(writer);
                saved.Position = 0;
                using var back = new BinaryReader(saved);
                back.ReadInt64();
                using var m = zeros(count);
                using var v = zeros(count);
                m.Load(back);
                v.Load(back);
                return (NonZeros(m), NonZeros(v));
            }
            using (var state = new MemoryStream())
            {
                using (var writer = new BinaryWriter(state, System.Text.Encoding.UTF8, leaveOpen: true))
                using (var denormals = Denormals(count))
                {
                    writer.Write(1L);
                    denormals.Save(writer);
                    denormals.Save(writer);
                }
                state.Position = 0;
                using var reader = new BinaryReader(state);
                adam.Load(reader);
            }
            Assert.Equal((count, count), State()); // the state holds denormals before the step
            using (no_grad())
                foreach (var p in network.parameters()) p.zero_();
            adam.ZeroGrad();
            adam.Step(1);
            var (m, v) = State();
            return (m, v, network.parameters().Sum(NonZeros));
        }, flush);
        if (flush)
            Assert.Equal((0L, 0L, 0L), (expAvg, expAvgSq, weights));
        else
            Assert.True(expAvg > 0 && expAvgSq > 0, $"without flushing the state keeps its denormals ({expAvg}, {expAvgSq} non-zero)");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void An_sgd_momentum_step_with_denormal_gradients_leaves_zeros_only_when_flushing(bool flush)
    {
        SkipUnlessFlushingWorks();
        long changed = DenormalFlushing.RunOnNewThread(() =>
        {
            using var network = nn.Sequential(("fc", nn.Linear(64, 32)));
            using (no_grad())
                foreach (var p in network.parameters()) p.zero_();
            var settings = new TrainingOptions { Optimizer = OptimizerKind.Sgd, LearningRate = 1, WeightDecay = 0 };
            using var sgd = Optimizers.Create(network, settings, totalSteps: 2);
            foreach (var p in network.parameters()) p.grad = Denormals(p.numel()).view(p.shape);
            sgd.Step(1);
            sgd.Step(1);
            return network.parameters().Sum(NonZeros);
        }, flush);
        long parameters = 64 * 32 + 32;
        Assert.Equal(flush ? 0 : parameters, changed);
    }

    [Fact]
    public void Onnx_export_writes_denormal_weights_as_zero()
    {
        var definition = new NetworkDefinition("Denormal", [new Flatten(), new Linear { Name = "fc" }]);
        using var network = Architectures.Create(definition, 2, [1, 1, 2]);
        using (no_grad())
        {
            using var weights = tensor(new[] { Denormal, 0.5f, -Denormal, 1e-30f });
            network.parameters().First().copy_(weights.view(2, 2));
        }
        var model = ModelProto.Parser.ParseFrom(NetworkOnnxExporter.Export(network, definition, ["a", "b"], new ClassifierGraphNames("x", "y", "z"), TestTimeAugmentation.None, 1, 1, 2));
        var weight = model.Graph.Initializer.Single(t => t.Name == "fc.weight");
        var values = weight.FloatData.Count > 0
            ? weight.FloatData.ToArray()
            : Enumerable.Range(0, 4).Select(i => BitConverter.ToSingle(weight.RawData.Span.Slice(i * 4, 4))).ToArray();
        Assert.Equal(new[] { 0f, 0.5f, 0f, 1e-30f }, values);
    }

    /// <summary>
    /// <paramref name="count"/> denormals, copied from .NET memory: <c>full(count, Denormal)</c> would convert the
    /// fill value with the processor's arithmetic, which gives zero where flushing is on.
    /// </summary>
    private static Tensor Denormals(long count) => tensor(Enumerable.Repeat(Denormal, (int)count).ToArray());

    /// <summary>Elements whose bits are not ±0: integer arithmetic, which no processor flag changes.</summary>
    private static long NonZeros(Tensor t)
    {
        using var onCpu = t.detach().cpu().contiguous();
        return onCpu.data<float>().ToArray().LongCount(v => (BitConverter.SingleToInt32Bits(v) & 0x7FFFFFFF) != 0);
    }

    private static TensorDataset ToySet(int count) => TestRuns.RandomSet(count, seed: 7);

}
