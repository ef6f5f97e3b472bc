using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>What the training loop needs from an optimizer: zero the gradients, step, keep its state in a checkpoint.</summary>
internal interface IStepper : IDisposable
{
    void ZeroGrad();
    void Step();
    void Save(BinaryWriter writer);
    void Load(BinaryReader reader);
}

internal static class Optimizers
{
    /// <summary>The optimizer <paramref name="settings"/> ask for, over <paramref name="network"/>'s parameters (already on their device).</summary>
    public static IStepper Create(Sequential network, TrainingOptions settings) => settings.Optimizer switch
    {
        OptimizerKind.Sgd => new TorchSharpStepper(optim.SGD(network.parameters(), settings.LearningRate, momentum: 0.9, weight_decay: settings.WeightDecay)),
        _ => new FlatAdam(network, settings.LearningRate, settings.WeightDecay),
    };
}

/// <summary>A TorchSharp optimizer as an <see cref="IStepper"/>.</summary>
internal sealed class TorchSharpStepper(OptimizerHelper optimizer) : IStepper
{
    public void ZeroGrad() => optimizer.zero_grad();
    public void Step() => optimizer.step();
    public void Save(BinaryWriter writer) => optimizer.save_state_dict(writer);
    public void Load(BinaryReader reader) => optimizer.load_state_dict(reader);
    public void Dispose() => optimizer.Dispose();
}

/// <summary>
/// Adam exactly as <c>torch.optim.Adam</c> (and TorchSharp's <c>optim.Adam</c>) computes it, with L2 weight decay
/// added to the gradient, betas (0.9, 0.999), eps 1e-8, no amsgrad, but over all parameters at once.
/// </summary>
/// <remarks>
/// The network's parameters are re-seated as views into one flat weight tensor and their gradients as views
/// into one flat gradient tensor (autograd accumulates into an existing gradient in place), so zeroing is one
/// operation and a step about ten, instead of ten per parameter: SeedCnn has 10 parameters, so ≈ 100 tensor
/// operations issued from .NET per step become ≈ 10. Every operation is elementwise, so the numbers are those
/// of the per-parameter update.
/// </remarks>
internal sealed class FlatAdam : IStepper
{
    private const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;
    private readonly Tensor _weights, _grads, _expAvg, _expAvgSq;
    private readonly double _learningRate, _weightDecay;
    private readonly Parameter[] _parameters;
    private long _step;

    public FlatAdam(nn.Module network, double learningRate, double weightDecay)
    {
        _learningRate = learningRate;
        _weightDecay = weightDecay;
        var parameters = _parameters = network.parameters().ToArray();
        if (parameters.Length == 0) throw new ArgumentException("the network has no parameters to optimize", nameof(network));
        long total = parameters.Sum(p => p.numel());
        var first = parameters[0];
        _weights = empty(total, dtype: first.dtype, device: first.device);
        _grads = zeros(total, dtype: first.dtype, device: first.device);
        _expAvg = zeros(total, dtype: first.dtype, device: first.device);
        _expAvgSq = zeros(total, dtype: first.dtype, device: first.device);
        // The views' handles die with the scope; the parameters keep the storage they now share.
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long offset = 0;
        foreach (var parameter in parameters)
        {
            long count = parameter.numel();
            var weight = _weights.narrow(0, offset, count).view(parameter.shape);
            weight.copy_(parameter);
            parameter.set_(weight);
            parameter.grad = _grads.narrow(0, offset, count).view(parameter.shape);
            offset += count;
        }
    }

    public void ZeroGrad() => _grads.zero_();

    public void Step()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        _step++;
        double biasCorrection1 = 1 - Math.Pow(Beta1, _step);
        double biasCorrection2 = 1 - Math.Pow(Beta2, _step);
        var grad = _weightDecay != 0 ? _grads.add(_weights, alpha: _weightDecay) : _grads;
        _expAvg.mul_(Beta1).add_(grad, alpha: 1 - Beta1);
        _expAvgSq.mul_(Beta2).addcmul_(grad, grad, value: 1 - Beta2);
        var denominator = (_expAvgSq.sqrt() / Math.Sqrt(biasCorrection2)).add_(Eps);
        _weights.addcdiv_(_expAvg, denominator, value: -_learningRate / biasCorrection1);
    }

    public void Save(BinaryWriter writer)
    {
        writer.Write(_step);
        _expAvg.Save(writer);
        _expAvgSq.Save(writer);
    }

    public void Load(BinaryReader reader)
    {
        _step = reader.ReadInt64();
        _expAvg.Load(reader);
        _expAvgSq.Load(reader);
    }

    public void Dispose()
    {
        // The gradient views would keep the flat gradient alive as long as the trained network.
        foreach (var parameter in _parameters.Where(p => !p.IsInvalid)) parameter.grad = null;
        _weights.Dispose();
        _grads.Dispose();
        _expAvg.Dispose();
        _expAvgSq.Dispose();
    }
}
