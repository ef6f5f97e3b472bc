using System.Collections.Concurrent;
using Microsoft.ML;

namespace Cifar.MLNet.Prediction;

/// <summary>
/// A pool of <see cref="PredictionEngine{TSrc, TDst}"/> for one model. ML.NET's engines are cheap
/// to use but costly to create and not thread-safe; the pool lends each caller its own engine and
/// keeps at most <c>maxRetained</c> idle ones (the rest are disposed on return).
/// </summary>
public sealed class PredictionEnginePool<TInput, TOutput> : IDisposable
    where TInput : class
    where TOutput : class, new()
{
    private readonly MLContext _ml;
    private readonly ITransformer _model;
    private readonly int _maxRetained;
    private readonly ConcurrentBag<PredictionEngine<TInput, TOutput>> _idle = new();
    private int _idleCount;
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
    public int IdleCount => Volatile.Read(ref _idleCount);

    /// <summary>Runs one prediction on a pooled engine.</summary>
    public TOutput Predict(TInput input)
    {
        var engine = Rent();
        try
        {
            return engine.Predict(input);
        }
        finally
        {
            Return(engine);
        }
    }

    private PredictionEngine<TInput, TOutput> Rent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_idle.TryTake(out var engine))
        {
            Interlocked.Decrement(ref _idleCount);
            return engine;
        }
        return _ml.Model.CreatePredictionEngine<TInput, TOutput>(_model);
    }

    private void Return(PredictionEngine<TInput, TOutput> engine)
    {
        if (!_disposed && Interlocked.Increment(ref _idleCount) <= _maxRetained)
        {
            _idle.Add(engine);
            return;
        }
        Interlocked.Decrement(ref _idleCount);
        engine.Dispose();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryTake(out var engine)) engine.Dispose();
    }
}
