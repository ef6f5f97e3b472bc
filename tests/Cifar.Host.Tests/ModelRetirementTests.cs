using Cifar.Host.Serving;
using Microsoft.Extensions.Logging;

namespace Cifar.Host.Tests;

/// <summary>
/// Models a reload replaced are disposed off the thread that lets go of them (a request's), one at a time, and
/// shutdown waits for them; a failure is logged. Signals, not sleeps: a model's Dispose here waits for the test's go.
/// </summary>
public class ModelRetirementTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>A model whose Dispose says which thread runs it, then waits for <see cref="Go"/> (or throws when told to).</summary>
    private sealed class HeldModel(bool fails = false) : IDisposable
    {
        public ManualResetEventSlim Entered { get; } = new();
        public ManualResetEventSlim Go { get; } = new();
        public int? DisposingThread { get; private set; }
        public bool Disposed { get; private set; }

        public void Dispose()
        {
            DisposingThread = Environment.CurrentManagedThreadId;
            Entered.Set();
            Go.Wait();
            if (fails) throw new InvalidOperationException("the session would not close");
            Disposed = true;
        }
    }

    private static (ModelRetirement Retirement, LogLines Logs) Create()
    {
        var logs = new LogLines();
        var factory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        return (new ModelRetirement(factory.CreateLogger<CifarModelPool>()), logs);
    }

    [Fact]
    public async Task A_retired_model_is_disposed_on_another_thread_and_shutdown_waits_for_it()
    {
        var (retirement, _) = Create();
        var model = new HeldModel();
        int releasing = Environment.CurrentManagedThreadId;
        retirement.Retire(model, "model.zip"); // returns while the model's Dispose still waits: it runs elsewhere
        Assert.True(model.Entered.Wait(Patience), "the model was not disposed");
        Assert.NotEqual(releasing, model.DisposingThread);
        Assert.False(model.Disposed);

        var shutdown = Task.Factory.StartNew(retirement.Dispose, TaskCreationOptions.LongRunning);
        Assert.False(shutdown.IsCompleted); // the model's Dispose still waits for Go, so shutdown cannot have finished
        model.Go.Set();
        await shutdown.WaitAsync(Patience); // throws TimeoutException if shutdown did not finish
        Assert.True(model.Disposed);
    }

    [Fact]
    public void Retirements_run_one_after_another_and_a_failure_is_logged_not_lost()
    {
        var (retirement, logs) = Create();
        var first = new HeldModel(fails: true);
        var second = new HeldModel();
        retirement.Retire(first, "first.zip");
        retirement.Retire(second, "second.zip");
        Assert.True(first.Entered.Wait(Patience));
        Assert.False(second.Entered.IsSet); // one full collection at a time: the second waits for the first
        first.Go.Set();
        second.Go.Set();
        retirement.Dispose();
        Assert.True(second.Disposed);
        var line = Assert.Single(logs.Lines, l => l.Contains("first.zip: disposing the replaced model failed", StringComparison.Ordinal));
        Assert.StartsWith("Error: ", line);
        Assert.Contains("the session would not close", line);
    }

    [Fact]
    public void After_shutdown_a_model_is_disposed_by_the_thread_that_retires_it()
    {
        var (retirement, _) = Create();
        retirement.Dispose();
        var model = new HeldModel();
        model.Go.Set();
        retirement.Retire(model, "late.zip");
        Assert.True(model.Disposed);
        Assert.Equal(Environment.CurrentManagedThreadId, model.DisposingThread);
    }
}
