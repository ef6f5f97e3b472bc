using Microsoft.Extensions.Logging;

namespace Cifar.Host.Serving;

/// <summary>
/// Disposes models that a reload replaced, on a background thread, one after another, so that the request that
/// releases the last lease on a replaced model does not pay for it: <see cref="MLNet.Prediction.CifarModel.Dispose"/>
/// forces a full garbage collection and waits for finalizers before it releases the ONNX Runtime sessions.
/// Shutdown (<see cref="Dispose"/>) waits for the retirements under way; a failure is logged, never lost or thrown
/// on a thread that nobody observes.
/// </summary>
internal sealed class ModelRetirement : IDisposable
{
    private readonly ILogger _log;
    private readonly object _gate = new();
    private Task _last = Task.CompletedTask; // never faults: each retirement logs its own failure
    private bool _closed;

    public ModelRetirement(ILogger log) => _log = log;

    /// <summary>
    /// Disposes <paramref name="model"/> on a thread of its own once those retired before it are disposed (one full
    /// collection at a time); after <see cref="Dispose"/>, when nothing would wait for it, on the calling thread.
    /// </summary>
    /// <param name="model">The model no request holds any more.</param>
    /// <param name="description">What the log calls it when disposing fails.</param>
    public void Retire(IDisposable model, string description)
    {
        lock (_gate)
        {
            if (!_closed)
            {
                // LongRunning: a dedicated thread, so a collection that waits for finalizers blocks no thread-pool thread.
                _last = _last.ContinueWith(_ => DisposeLogged(model, description), CancellationToken.None,
                    TaskContinuationOptions.LongRunning, TaskScheduler.Default);
                return;
            }
        }
        DisposeLogged(model, description);
    }

    /// <summary>Completes once every model retired so far is disposed.</summary>
    public Task Idle
    {
        get
        {
            lock (_gate) return _last;
        }
    }

    /// <summary>Waits for the retirements under way; models retired afterwards are disposed by the thread that retires them.</summary>
    public void Dispose()
    {
        Task last;
        lock (_gate)
        {
            _closed = true;
            last = _last;
        }
        last.Wait();
    }

    private void DisposeLogged(IDisposable model, string description)
    {
        try
        {
            model.Dispose();
        }
        catch (Exception e)
        {
            _log.LogError(e, "{Model}: disposing the replaced model failed", description);
        }
    }
}
