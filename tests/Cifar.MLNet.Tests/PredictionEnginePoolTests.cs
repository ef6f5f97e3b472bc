using Cifar.MLNet.Prediction;
using Microsoft.ML;

namespace Cifar.MLNet.Tests;

public class PredictionEnginePoolTests
{
    public sealed class Row
    {
        public float X { get; set; }
    }

    public sealed class Doubled
    {
        public float Y { get; set; }
    }

    private static PredictionEnginePool<Row, Doubled> Pool(Action<float>? during = null, int? maxRetained = null)
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Transforms.CustomMapping<Row, Doubled>((input, output) =>
        {
            during?.Invoke(input.X);
            output.Y = input.X * 2;
        }, contractName: null).Fit(ml.Data.LoadFromEnumerable(Array.Empty<Row>()));
        return new PredictionEnginePool<Row, Doubled>(ml, model, maxRetained);
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
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.False(disposing.IsCompleted, "Dispose returned while a prediction was running");
        Assert.Throws<ObjectDisposedException>(() => pool.Predict(new Row { X = 3 }));

        release.Set();
        Assert.Equal(2, await running);
        await disposing.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(0, pool.IdleCount); // the engine that came back during Dispose was let go, not kept
        pool.Dispose();
    }

    [Fact]
    public void Concurrent_predictions_and_a_dispose_leave_no_engine_behind()
    {
        for (int round = 0; round < 20; round++)
        {
            var pool = Pool(maxRetained: 3);
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
            Thread.Sleep(round % 5);
            pool.Dispose();
            Assert.Equal(0, pool.IdleCount);
            foreach (var worker in workers) worker.Join();
            Assert.Empty(failures);
            Assert.Equal(0, pool.IdleCount);
        }
    }
}
