using Cifar.Networks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// <see cref="OptimizerKind.Muon"/>, airbench94_muon's pair of optimizers: the convolution filters (4-D weights) step with
/// <see cref="Muon"/>; every other parameter with Nesterov SGD at <see cref="TrainingOptions.LearningRate"/>,
/// <see cref="TrainingOptions.Momentum"/> and <see cref="TrainingOptions.WeightDecay"/>, the BatchNorm shifts and the patch
/// whitening's bias at <see cref="TrainingOptions.BatchNormBiasLearningRateScale"/> times the rate. All follow the run's
/// schedule but the whitening bias, whose schedule runs over the epochs it learns in: its rate reaches the schedule's end
/// as it freezes, as the reference's whitening bias decays to 0 over its three epochs.
/// </summary>
internal sealed class MuonWithSgd : IStepper
{
    private readonly MomentumSgd _sgd;
    private readonly (MomentumSgd Sgd, long Steps)[] _whiteningBiases;
    private readonly Muon _filters;
    private readonly LearningRateSchedule _schedule;
    private long _step;

    /// <param name="network">The network, on its device.</param>
    /// <param name="settings">The run's options, trusted as valid.</param>
    /// <param name="totalSteps">The run's steps: <see cref="TrainingOptions.Epochs"/> times the steps of an epoch.</param>
    public MuonWithSgd(Sequential network, TrainingOptions settings, long totalSteps)
    {
        _schedule = settings.Schedule;
        long stepsPerEpoch = totalSteps / settings.Epochs;
        var shifts = MomentumSgd.BatchNormShifts(network);
        var whiteningSteps = network.named_modules().Where(m => m.module is PatchWhiteningModule)
            .ToDictionary(m => m.name + ".bias", m => ((PatchWhiteningModule)m.module).Definition.BiasEpochs * stepsPerEpoch);
        var parameters = network.named_parameters().ToArray();
        var filters = parameters.Where(p => p.parameter.dim() == 4).Select(p => p.parameter).ToArray();
        var device = parameters.Length > 0 ? parameters[0].parameter.device_type : DeviceType.CPU;
        _filters = new Muon(filters, settings.Muon, Muon.OrthogonalizationType(settings, device));
        _sgd = new MomentumSgd(parameters
            .Where(p => p.parameter.dim() != 4 && !whiteningSteps.ContainsKey(p.name))
            .Select(p => MomentumSgd.Rates(p.parameter, settings, biasScaled: shifts.Contains(p.name))), settings.Momentum, nesterov: true);
        _whiteningBiases = parameters.Where(p => whiteningSteps.ContainsKey(p.name))
            .Select(p => (new MomentumSgd([MomentumSgd.Rates(p.parameter, settings, biasScaled: true)], settings.Momentum, nesterov: true),
                whiteningSteps[p.name]))
            .ToArray();
    }

    public void ZeroGrad()
    {
        _sgd.ZeroGrad();
        foreach (var (sgd, _) in _whiteningBiases) sgd.ZeroGrad();
        _filters.ZeroGrad();
    }

    public void Step(double learningRateFactor)
    {
        _sgd.Step(learningRateFactor);
        // Past its span the bias is frozen (and skipped); the clamp only keeps the factor the schedule's end.
        foreach (var (sgd, steps) in _whiteningBiases) sgd.Step(_schedule.Factor(Math.Min(_step, steps), steps));
        _filters.Step(learningRateFactor);
        _step++;
    }

    public void Save(BinaryWriter writer)
    {
        writer.Write(_step);
        _sgd.Save(writer);
        foreach (var (sgd, _) in _whiteningBiases) sgd.Save(writer);
        _filters.Save(writer);
    }

    public void Load(BinaryReader reader)
    {
        _step = reader.ReadInt64();
        _sgd.Load(reader);
        foreach (var (sgd, _) in _whiteningBiases) sgd.Load(reader);
        _filters.Load(reader);
    }

    public void Dispose()
    {
        _sgd.Dispose();
        foreach (var (sgd, _) in _whiteningBiases) sgd.Dispose();
        _filters.Dispose();
    }
}

/// <summary>
/// Muon over convolution filters, as airbench94_muon steps them. Per layer: Nesterov momentum of the gradient (buffer ←
/// μ·buffer + g, direction g + μ·buffer); the filters rescaled to a Frobenius norm of √(filters), so their root-mean-square
/// filter norm is 1 (the whole layer at once, not filter by filter); then a step of the learning rate times the direction
/// orthogonalised (<see cref="Orthogonalize"/>) as a matrix of one row per filter. No weight decay: the rescaling bounds
/// the weights, and an orthogonalised step has the same size whatever the gradient's scale (a mean or a summed loss).
/// The weights and the momentum stay in their own type (float32); only the orthogonalisation runs in 16 bits.
/// </summary>
internal sealed class Muon : IStepper
{
    // airbench's quintic Newton–Schulz coefficients, chosen for the steepest slope at zero: a few iterations push every
    // singular value into about [0.7, 1.2] instead of converging to exactly 1, which trains as well.
    private const double A = 3.4445, B = -4.7750, C = 2.0315;
    private const double NormEpsilon = 1e-7;

    private readonly Parameter[] _filters;
    private readonly MomentumBuffers _momentum;
    private readonly double _learningRate, _momentumFactor;
    private readonly int _iterations;
    private readonly ScalarType _orthogonalizationType;

    /// <param name="filters">The convolution weights [out, in, k, k] to step; those that do not require gradients are skipped.</param>
    /// <param name="options">Learning rate, momentum and iterations.</param>
    /// <param name="orthogonalizationType">The type Newton–Schulz computes in (<see cref="OrthogonalizationType"/>).</param>
    public Muon(IEnumerable<Parameter> filters, MuonOptions options, ScalarType orthogonalizationType)
    {
        _filters = filters.ToArray();
        _momentum = new MomentumBuffers(_filters);
        _learningRate = options.LearningRate;
        _momentumFactor = options.Momentum;
        _iterations = options.NewtonSchulzSteps;
        _orthogonalizationType = orthogonalizationType;
    }

    /// <summary>
    /// bfloat16, as airbench94_muon, where the run's passes are 16-bit (<see cref="TrainingOptions.Precision"/> on
    /// <paramref name="device"/>: a GPU, or a CPU that computes in bfloat16 natively); float32 where they are float32,
    /// since a CPU without native bfloat16 computes it slower than float32.
    /// </summary>
    public static ScalarType OrthogonalizationType(TrainingOptions settings, DeviceType device) =>
        settings.PrecisionOn(device) == TrainingPrecision.Float32 ? ScalarType.Float32 : ScalarType.BFloat16;

    /// <summary>
    /// Newton–Schulz's quintic iteration towards the nearest semi-orthogonal matrix of <paramref name="matrix"/> (2-D), in
    /// <paramref name="type"/>: X = M / (‖M‖ + 1e-7), so no singular value exceeds 1; then <paramref name="iterations"/> times
    /// X ← a·X + (b·A + (c·A)·A)·X with A = X·Xᵀ, on the wide orientation (a tall matrix is transposed and back).
    /// </summary>
    /// <returns>A new tensor of <paramref name="type"/>, the shape of <paramref name="matrix"/>.</returns>
    public static Tensor Orthogonalize(Tensor matrix, int iterations, ScalarType type)
    {
        using var scope = NewDisposeScope();
        var x = matrix.to(type);
        x = x / (x.norm() + NormEpsilon);
        bool tall = x.shape[0] > x.shape[1];
        if (tall) x = x.t();
        for (int i = 0; i < iterations; i++)
        {
            var a = x.matmul(x.t());
            var b = a * B + (a * C).matmul(a);
            x = x * A + b.matmul(x);
        }
        if (tall) x = x.t();
        return x.MoveToOuterDisposeScope();
    }

    public void ZeroGrad()
    {
        using var scope = NewDisposeScope(); // each .grad is a new handle
        foreach (var filter in _filters) filter.grad?.zero_();
    }

    public void Step(double learningRateFactor)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (int i = 0; i < _filters.Length; i++)
        {
            var filter = _filters[i];
            if (!filter.requires_grad || filter.grad is not { } grad) continue;
            var buffer = _momentum.Accumulate(i, grad, _momentumFactor);
            var direction = grad.add(buffer, alpha: _momentumFactor);
            long rows = filter.shape[0];
            filter.mul_(filter.norm().reciprocal().mul_(Math.Sqrt(rows)));
            var update = Orthogonalize(direction.reshape(rows, -1), _iterations, _orthogonalizationType).to(filter.dtype).view(filter.shape);
            filter.add_(update, alpha: -_learningRate * learningRateFactor);
        }
    }

    public void Save(BinaryWriter writer) => _momentum.Save(writer);

    public void Load(BinaryReader reader) => _momentum.Load(reader);

    public void Dispose() => _momentum.Dispose();
}
