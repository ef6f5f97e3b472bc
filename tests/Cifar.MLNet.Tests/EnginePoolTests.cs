using Cifar.Tests;
using Cifar.MLNet.Prediction;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Tests;

public class EnginePoolTests
{
    public sealed class Row
    {
        public float X { get; set; }
    }

    public sealed class Doubled
    {
        public float Y { get; set; }
    }

    /// <summary>A model that records whether it was disposed (as an ONNX transformer would release its session).</summary>
    private sealed class DisposableModel(ITransformer inner) : ITransformer, IDisposable
    {
        public bool Disposed { get; private set; }
        public bool IsRowToRowMapper => inner.IsRowToRowMapper;
        public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => inner.GetOutputSchema(inputSchema);
        public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
        {
            ObjectDisposedException.ThrowIf(Disposed, this);
            return inner.GetRowToRowMapper(inputSchema);
        }
        public IDataView Transform(IDataView input) => inner.Transform(input);
        public void Save(ModelSaveContext ctx) => inner.Save(ctx);
        public void Dispose() => Disposed = true;
    }

    private static EnginePool<Row, Doubled> Pool(Action<float>? during = null, int? maxRetained = null) =>
        Pool(out _, during, maxRetained);

    private static EnginePool<Row, Doubled> Pool(out DisposableModel model, Action<float>? during = null, int? maxRetained = null)
    {
        var ml = new MLContext(seed: 1);
        model = new DisposableModel(ml.Transforms.CustomMapping<Row, Doubled>((input, output) =>
        {
            during?.Invoke(input.X);
            if (float.IsNaN(input.X)) throw new InvalidOperationException("NaN");
            output.Y = input.X * 2;
        }, contractName: null).Fit(ml.Data.LoadFromEnumerable(Array.Empty<Row>())));
        return new EnginePool<Row, Doubled>(ml, model, maxRetained);
    }

    [Fact]
    public void Surplus_failed_and_idle_engines_are_disposed_and_the_shared_model_is_not()
    {
        using var inside = new CountdownEvent(8);
        bool gather = true;
        // 8 engines at once: each prediction waits until all 8 are in flight, so none can reuse another's engine.
        var pool = Pool(out var model, during: _ =>
        {
            if (!Volatile.Read(ref gather)) return;
            inside.Signal();
            Assert.True(inside.Wait(TimeSpan.FromSeconds(30)), "8 predictions were not in flight at once");
        }, maxRetained: 2);
        Concurrently.Run(8, i => Assert.Equal(2f * i, pool.Predict(new Row { X = i }).Y));
        Volatile.Write(ref gather, false);
        Assert.Equal(2, pool.IdleCount);
        Assert.Equal(2, pool.LiveCount); // the 6 beyond maxRetained were disposed on return
        Assert.False(model.Disposed, "disposing an engine disposed the model every engine shares");

        // An engine whose prediction failed is disposed, not lent again.
        Assert.Throws<InvalidOperationException>(() => pool.Predict(new Row { X = float.NaN }));
        Assert.Equal(1, pool.IdleCount);
        Assert.Equal(1, pool.LiveCount);
        Assert.Equal(6, pool.Predict(new Row { X = 3 }).Y);

        pool.Dispose();
        Assert.Equal(0, pool.LiveCount); // the idle ones too
        Assert.False(model.Disposed, "the pool disposed the model; its owner does");
    }

    [Fact]
    public async Task Dispose_waits_for_a_prediction_in_progress_and_then_refuses_new_ones()
    {
        using var inside = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var pool = Pool(during: x =>
        {
            if (x != 1) return;
            inside.Set();
            release.Wait();
        });
        Assert.Equal(4, pool.Predict(new Row { X = 2 }).Y);
        var running = Task.Run(() => pool.Predict(new Row { X = 1 }).Y);
        Assert.True(inside.Wait(TimeSpan.FromSeconds(30)));

        var disposing = Task.Run(pool.Dispose);
        // Once new predictions are refused, Dispose has begun; it cannot end while the prediction above is held.
        Assert.True(SpinWait.SpinUntil(() => Refuses(pool), TimeSpan.FromSeconds(30)), "Dispose did not begin within 30 s");
        Assert.False(disposing.IsCompleted, "Dispose returned while a prediction was running");

        release.Set();
        Assert.Equal(2, await running);
        await disposing.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(0, pool.IdleCount); // the engine that came back during Dispose was let go, not kept
        pool.Dispose();
    }

    private static bool Refuses(EnginePool<Row, Doubled> pool)
    {
        try
        {
            pool.Predict(new Row { X = 3 });
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }

    [Fact]
    public void Concurrent_predictions_and_a_dispose_leave_no_engine_behind()
    {
        for (int round = 0; round < 20; round++)
        {
            // Dispose comes after a number of predictions that differs from round to round (none to 1,900), not after a pause.
            int made = 0, target = round * 100;
            using var reached = new ManualResetEventSlim(target == 0);
            var pool = Pool(during: _ =>
            {
                if (Interlocked.Increment(ref made) == target) reached.Set();
            }, maxRetained: 3);
            using var start = new Barrier(9);
            var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
            var workers = Enumerable.Range(0, 8).Select(_ => new Thread(() =>
            {
                start.SignalAndWait();
                try
                {
                    for (int i = 0; i < 10_000; i++)
                        if (pool.Predict(new Row { X = i }).Y != 2f * i) throw new InvalidOperationException($"wrong result for {i}");
                }
                catch (ObjectDisposedException)
                {
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                }
            })).ToArray();
            foreach (var worker in workers) worker.Start();
            start.SignalAndWait();
            Assert.True(reached.Wait(TimeSpan.FromSeconds(30)), $"round {round}: {target} predictions were not made within 30 s");
            pool.Dispose();
            Assert.Equal(0, pool.IdleCount);
            foreach (var worker in workers) worker.Join();
            Assert.Empty(failures);
            Assert.Equal(0, pool.IdleCount);
        }
    }
}
