using Microsoft.ML;

namespace Cifar.MLNet.Prediction;

/// <summary>
/// A pool of <see cref="PredictionEngine{TSrc, TDst}"/> for one model. ML.NET's engines are cheap
/// to use but costly to create and not thread-safe; the pool lends each caller its own engine and
/// keeps at most <c>maxRetained</c> idle ones: one returned beyond that, or whose prediction failed,
/// is disposed. <see cref="Dispose"/> waits for predictions in progress and disposes the idle engines,
/// so once it returns no engine of the pool runs: the model's own resources (an ONNX session) may then go too.
/// Engines are created with <c>OwnsTransformer = false</c>: by default ML.NET's <c>PredictionEngine.Dispose</c>
/// disposes the model it runs (dotnet/machinelearning#5945), which every other engine of the pool shares.
/// The model's owner disposes the model.
/// </summary>
internal sealed class EnginePool<TInput, TOutput> : IDisposable
    where TInput : class
    where TOutput : class, new()
{
    private static readonly PredictionEngineOptions EngineOptions = new() { OwnsTransformer = false };

    private readonly MLContext _ml;
    private readonly ITransformer _model;
    private readonly int _maxRetained;
    private readonly object _gate = new();
    private readonly Stack<PredictionEngine<TInput, TOutput>> _idle = new();
    private int _inFlight;
    private int _live;
    private bool _disposed;

    /// <summary>Creates an empty pool; engines are made on first use.</summary>
    /// <param name="ml">The context engines are created in.</param>
    /// <param name="model">The model every engine runs (not disposed by the pool).</param>
    /// <param name="maxRetained">Idle engines kept; default twice the processor count.</param>
    public EnginePool(MLContext ml, ITransformer model, int? maxRetained = null)
    {
        _ml = ml;
        _model = model;
        _maxRetained = Math.Max(1, maxRetained ?? Environment.ProcessorCount * 2);
    }

    /// <summary>Idle engines now in the pool.</summary>
    public int IdleCount
    {
        get { lock (_gate) return _idle.Count; }
    }

    /// <summary>Engines created and not yet disposed, idle or in use (for tests).</summary>
    internal int LiveCount => Volatile.Read(ref _live);

    /// <summary>Runs one prediction on a pooled engine.</summary>
    /// <exception cref="ObjectDisposedException">The pool is disposed (or being disposed).</exception>
    public TOutput Predict(TInput input)
    {
        PredictionEngine<TInput, TOutput>? engine;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _inFlight++;
            _idle.TryPop(out engine);
        }
        bool succeeded = false;
        try
        {
            if (engine is null)
            {
                engine = _ml.Model.CreatePredictionEngine<TInput, TOutput>(_model, EngineOptions);
                Interlocked.Increment(ref _live);
            }
            var output = engine.Predict(input);
            succeeded = true;
            return output;
        }
        finally
        {
            // An engine whose prediction failed may hold a half-read row: it is not lent again.
            Return(engine, reusable: succeeded);
        }
    }

    private void Return(PredictionEngine<TInput, TOutput>? engine, bool reusable)
    {
        lock (_gate)
        {
            if (engine is not null && reusable && !_disposed && _idle.Count < _maxRetained)
            {
                _idle.Push(engine);
                Leave();
                return;
            }
        }
        // Not kept: disposed (outside the lock, others need not wait) before this prediction counts as done, so that
        // Dispose never returns while an engine is still being disposed.
        try
        {
            if (engine is not null) DisposeEngine(engine);
        }
        finally
        {
            lock (_gate) Leave();
        }
    }

    /// <summary>One prediction is done; under the lock.</summary>
    private void Leave()
    {
        _inFlight--;
        if (_disposed && _inFlight == 0) Monitor.PulseAll(_gate);
    }

    private void DisposeEngine(PredictionEngine<TInput, TOutput> engine)
    {
        engine.Dispose(); // its own cursor and buffers; the model stays (OwnsTransformer = false)
        Interlocked.Decrement(ref _live);
    }

    /// <summary>Refuses new predictions, waits for those in progress and disposes every engine.</summary>
    public void Dispose()
    {
        PredictionEngine<TInput, TOutput>[] idle;
        lock (_gate)
        {
            _disposed = true; // a second call waits too
            while (_inFlight > 0) Monitor.Wait(_gate);
            idle = _idle.ToArray();
            _idle.Clear();
        }
        foreach (var engine in idle) DisposeEngine(engine);
    }
}
