using Microsoft.ML;

namespace Cifar.MLNet.Prediction;

/// <summary>
/// A pool of <see cref="PredictionEngine{TSrc, TDst}"/> for one model. ML.NET's engines are cheap
/// to use but costly to create and not thread-safe; the pool lends each caller its own engine and
/// keeps at most <c>maxRetained</c> idle ones (the rest are let go on return).
/// <see cref="Dispose"/> waits for predictions in progress, so once it returns no engine of the pool
/// runs: the model's own resources (an ONNX session) may then go too.
/// Engines are let go, never disposed: ML.NET's <c>PredictionEngine.Dispose</c> disposes the model it
/// runs (dotnet/machinelearning#5945), which every other engine of the pool shares. The model's owner
/// disposes the model.
/// </summary>
public sealed class PredictionEnginePool<TInput, TOutput> : IDisposable
    where TInput : class
    where TOutput : class, new()
{
    private readonly MLContext _ml;
    private readonly ITransformer _model;
    private readonly int _maxRetained;
    private readonly object _gate = new();
    private readonly Stack<PredictionEngine<TInput, TOutput>> _idle = new();
    private int _inFlight;
    private bool _disposed;

    /// <summary>Creates an empty pool; engines are made on first use.</summary>
    /// <param name="ml">The context engines are created in.</param>
    /// <param name="model">The model every engine runs.</param>
    /// <param name="maxRetained">Idle engines kept; default twice the processor count.</param>
    public PredictionEnginePool(MLContext ml, ITransformer model, int? maxRetained = null)
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
        try
        {
            engine ??= _ml.Model.CreatePredictionEngine<TInput, TOutput>(_model);
            return engine.Predict(input);
        }
        finally
        {
            Return(engine);
        }
    }

    private void Return(PredictionEngine<TInput, TOutput>? engine)
    {
        lock (_gate)
        {
            _inFlight--;
            if (engine is not null && !_disposed && _idle.Count < _maxRetained) _idle.Push(engine);
            if (_disposed && _inFlight == 0) Monitor.PulseAll(_gate);
        }
        // An engine not kept (the pool is full, or disposed meanwhile) is left to the collector; see the class remarks.
    }

    /// <summary>Refuses new predictions, waits for those in progress and lets every engine go.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true; // a second call waits too
            while (_inFlight > 0) Monitor.Wait(_gate);
            _idle.Clear();
        }
    }
}
