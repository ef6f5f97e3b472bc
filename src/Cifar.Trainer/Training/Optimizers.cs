using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// What the training loop needs from an optimizer: zero the gradients, step with the schedule's factor on the
/// learning rate, keep its state in a checkpoint.
/// </summary>
internal interface IStepper : IDisposable
{
    void ZeroGrad();
    void Step(double learningRateFactor);
    void Save(BinaryWriter writer);
    void Load(BinaryReader reader);
}

internal static class Optimizers
{
    /// <summary>
    /// The optimizer <paramref name="settings"/> ask for, over <paramref name="network"/>'s parameters (already on
    /// their device), with lookahead around it when asked for; <paramref name="totalSteps"/> paces the lookahead.
    /// </summary>
    public static IStepper Create(Sequential network, TrainingOptions settings, long totalSteps)
    {
        IStepper optimizer = settings.Optimizer switch
        {
            OptimizerKind.Sgd or OptimizerKind.Nesterov => new MomentumSgd(network, settings),
            OptimizerKind.Muon => new MuonWithSgd(network, settings, totalSteps),
            _ => new FlatAdam(network, settings.LearningRate, settings.WeightDecay),
        };
        return settings.LookaheadInterval > 0 ? new Lookahead(optimizer, network, settings.LookaheadInterval, totalSteps) : optimizer;
    }
}

/// <summary>
/// <c>torch.optim.SGD</c> with momentum, optionally Nesterov, no dampening, L2 weight decay added to the gradient;
/// BatchNorm shifts get <see cref="TrainingOptions.BatchNormBiasLearningRateScale"/> times the learning rate and
/// that much less weight decay. Parameters that do not require gradients (frozen, or frozen for now) are skipped.
/// </summary>
internal sealed class MomentumSgd : IStepper
{
    private readonly (Parameter Parameter, double LearningRate, double WeightDecay)[] _groups;
    private readonly MomentumBuffers _momentum;
    private readonly double _momentumFactor;
    private readonly bool _nesterov;

    public MomentumSgd(Sequential network, TrainingOptions settings)
        : this(Groups(network, settings), settings.Momentum, nesterov: settings.Optimizer == OptimizerKind.Nesterov)
    {
    }

    private static IEnumerable<(Parameter, double, double)> Groups(Sequential network, TrainingOptions settings)
    {
        var shifts = BatchNormShifts(network);
        return network.named_parameters().Select(p => Rates(p.parameter, settings, shifts.Contains(p.name)));
    }

    /// <summary>SGD over <paramref name="groups"/>: each parameter with its own learning rate and weight decay.</summary>
    public MomentumSgd(IEnumerable<(Parameter Parameter, double LearningRate, double WeightDecay)> groups, double momentum, bool nesterov)
    {
        _groups = groups.ToArray();
        _momentum = new MomentumBuffers(_groups.Select(g => (Tensor)g.Parameter).ToArray());
        _momentumFactor = momentum;
        _nesterov = nesterov;
    }

    /// <summary>The names of <paramref name="network"/>'s BatchNorm shifts.</summary>
    public static HashSet<string> BatchNormShifts(Sequential network) =>
        network.named_modules().Where(m => m.module is BatchNorm2d).Select(m => m.name + ".bias").ToHashSet();

    /// <summary>
    /// <paramref name="parameter"/>'s learning rate and weight decay: <paramref name="biasScaled"/>, the learning rate times
    /// <see cref="TrainingOptions.BatchNormBiasLearningRateScale"/> and the weight decay over it.
    /// </summary>
    public static (Parameter, double, double) Rates(Parameter parameter, TrainingOptions settings, bool biasScaled)
    {
        double scale = settings.BatchNormBiasLearningRateScale;
        return biasScaled
            ? (parameter, settings.LearningRate * scale, settings.WeightDecay / scale)
            : (parameter, settings.LearningRate, settings.WeightDecay);
    }

    public void ZeroGrad()
    {
        using var scope = NewDisposeScope(); // each .grad is a new handle
        foreach (var (parameter, _, _) in _groups) parameter.grad?.zero_();
    }

    public void Step(double learningRateFactor)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (int i = 0; i < _groups.Length; i++)
        {
            var (parameter, learningRate, weightDecay) = _groups[i];
            if (!parameter.requires_grad || parameter.grad is not { } grad) continue;
            var step = weightDecay != 0 ? grad.add(parameter, alpha: weightDecay) : grad;
            if (_momentumFactor != 0)
            {
                var buffer = _momentum.Accumulate(i, step, _momentumFactor);
                step = _nesterov ? step.add(buffer, alpha: _momentumFactor) : buffer;
            }
            parameter.add_(step, alpha: -learningRate * learningRateFactor);
        }
    }

    public void Save(BinaryWriter writer) => _momentum.Save(writer);

    public void Load(BinaryReader reader) => _momentum.Load(reader);

    public void Dispose() => _momentum.Dispose();
}

/// <summary>
/// airbench's lookahead around an optimizer: every <c>interval</c> steps the network's floating-point state (weights
/// and BatchNorm statistics) is blended into its running average with decay 0.95^interval · (step / total)³ and then
/// set to that average; after the last step the network takes the average. Checkpoints carry the average.
/// </summary>
internal sealed class Lookahead : IStepper
{
    private const double DecayPerStep = 0.95;
    private readonly IStepper _inner;
    private readonly Tensor[] _state, _average;
    private readonly int _interval;
    private readonly long _totalSteps;
    private long _step;

    public Lookahead(IStepper inner, Sequential network, int interval, long totalSteps)
    {
        _inner = inner;
        _interval = interval;
        _totalSteps = totalSteps;
        _state = network.state_dict().Values.Where(t => t.is_floating_point()).ToArray();
        using var scope = NewDisposeScope(); // frees the intermediate handles; the averages leave it
        using var _ = no_grad();
        _average = _state.Select(t => t.detach().clone().DetachFromDisposeScope()).ToArray();
    }

    public void ZeroGrad() => _inner.ZeroGrad();

    public void Step(double learningRateFactor)
    {
        _inner.Step(learningRateFactor);
        _step++;
        if (_step % _interval == 0)
            Blend(Math.Pow(DecayPerStep, _interval) * Math.Pow((double)_step / _totalSteps, 3));
        if (_step == _totalSteps) Blend(1.0);
    }

    private void Blend(double decay)
    {
        using var _ = no_grad();
        for (int i = 0; i < _state.Length; i++)
        {
            _average[i].lerp_(_state[i], 1 - decay);
            _state[i].copy_(_average[i]);
        }
    }

    public void Save(BinaryWriter writer)
    {
        _inner.Save(writer);
        writer.Write(_step);
        foreach (var average in _average) average.Save(writer);
    }

    public void Load(BinaryReader reader)
    {
        _inner.Load(reader);
        _step = reader.ReadInt64();
        foreach (var average in _average) average.Load(reader);
    }

    public void Dispose()
    {
        _inner.Dispose();
        foreach (var average in _average) average.Dispose();
    }
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

    public void Step(double learningRateFactor)
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
        _weights.addcdiv_(_expAvg, denominator, value: -(_learningRate * learningRateFactor) / biasCorrection1);
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
