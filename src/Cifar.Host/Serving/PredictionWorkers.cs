using System.Collections.Concurrent;

namespace Cifar.Host.Serving;

/// <summary>How a piece of work submitted to <see cref="PredictionWorkers"/> ended.</summary>
internal enum WorkOutcome
{
    /// <summary>A worker ran it; its result is set.</summary>
    Done,

    /// <summary>Refused at once: every worker was busy and the queue full.</summary>
    QueueFull,

    /// <summary>Taken out of the queue: no worker was free within the longest wait.</summary>
    WaitedTooLong,
}

/// <summary>
/// A fixed number of dedicated threads that run predictions, fed by a bounded queue. Predictions are CPU-bound and
/// synchronous: on the thread pool they would starve it (and with it every other request, /health included) and the
/// pool would keep adding threads, so every request ends late together. Here at most <c>workers</c> predict at once,
/// at most <c>queueLength</c> wait, and the rest are refused at once.
/// </summary>
internal sealed class PredictionWorkers : IDisposable
{
    // Unbounded: a withdrawn item stays in it until a worker skips it, so the bound is on live waiters (_waiting), which
    // a withdrawal frees at once; bounding the collection would count the withdrawn ones as waiting.
    private readonly BlockingCollection<WorkItem> _queue = new(new ConcurrentQueue<WorkItem>());
    private readonly Thread[] _threads;
    private readonly int _queueLength;
    private int _waiting;

    public PredictionWorkers(int workers, int queueLength)
    {
        _queueLength = Math.Max(1, queueLength);
        _threads = Enumerable.Range(0, Math.Max(1, workers))
            .Select(i => new Thread(Work) { IsBackground = true, Name = $"cifar-predict-{i}" })
            .ToArray();
        foreach (var thread in _threads) thread.Start();
    }

    /// <summary>Work waiting for a worker now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>
    /// Runs <paramref name="work"/> on a worker: at once when one is free, after waiting in the queue when none is,
    /// or not at all when the queue is full or no worker frees within <paramref name="maxWait"/>.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled before a worker took it (a worker that took it finishes it).</exception>
    public async Task<(WorkOutcome Outcome, T? Result)> RunAsync<T>(Func<T> work, TimeSpan maxWait, CancellationToken cancellation)
    {
        var item = new WorkItem<T>(work);
        if (Interlocked.Increment(ref _waiting) > _queueLength)
        {
            Interlocked.Decrement(ref _waiting);
            return (WorkOutcome.QueueFull, default);
        }
        _queue.Add(item, CancellationToken.None);
        try
        {
            return (WorkOutcome.Done, await item.Result.WaitAsync(maxWait, cancellation));
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // Still queued: withdrawn, the worker skips it. Already taken: its result comes (its waiter is still here).
            if (!item.TryWithdraw()) return (WorkOutcome.Done, await item.Result);
            Interlocked.Decrement(ref _waiting);
            if (e is OperationCanceledException) throw;
            return (WorkOutcome.WaitedTooLong, default);
        }
    }

    private void Work()
    {
        foreach (var item in _queue.GetConsumingEnumerable())
        {
            if (!item.TryStart()) continue; // withdrawn while queued: its waiter has already left
            Interlocked.Decrement(ref _waiting);
            item.Run();
        }
    }

    /// <summary>Lets the queued work finish and ends the threads.</summary>
    public void Dispose()
    {
        _queue.CompleteAdding();
        foreach (var thread in _threads) thread.Join();
        _queue.Dispose();
    }

    private abstract class WorkItem
    {
        private const int Queued = 0, Started = 1, Withdrawn = 2;
        private int _state = Queued;

        public bool TryStart() => Interlocked.CompareExchange(ref _state, Started, Queued) == Queued;

        public bool TryWithdraw() => Interlocked.CompareExchange(ref _state, Withdrawn, Queued) == Queued;

        public abstract void Run();
    }

    private sealed class WorkItem<T>(Func<T> work) : WorkItem
    {
        private readonly TaskCompletionSource<T> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<T> Result => _result.Task;

        public override void Run()
        {
            try
            {
                _result.SetResult(work());
            }
            catch (Exception e)
            {
                _result.SetException(e); // the request's own failure, rethrown where it awaits: never the worker's end
            }
        }
    }
}
