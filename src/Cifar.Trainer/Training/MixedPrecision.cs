using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// Mixed-precision training over a network whose weights stay in float32: a working copy of the network in a 16-bit
/// type (BatchNorm kept in float32, as airbench keeps it) runs the forward and backward passes; the float32 network
/// (the "master") is what the optimizer updates, lookahead averages, checkpoints save and the saved model exports.
/// </summary>
/// <remarks>
/// Before a pass, <see cref="LoadFromMaster"/> copies every state entry (weights, BatchNorm statistics) into the copy,
/// rounded to its type; after the backward pass, <see cref="StoreInMaster"/> hands the gradients and the updated
/// BatchNorm statistics back as float32. Everything in the copy is derived from the master at each step, so a resumed
/// run continues bit for bit. Rounding only the passes, not the weights, keeps small late updates that a 16-bit weight
/// would round away. In float16 the backward pass runs on the loss times <see cref="LossScale"/> (the batch size: the
/// gradients of a summed loss, as airbench's), so small gradients of a mean loss do not underflow float16's range;
/// the master receives them divided back.
/// </remarks>
internal sealed class MixedPrecision : nn.Module<Tensor, Tensor>
{
    private readonly Sequential _working;
    private readonly ScalarType _type;
    private readonly double _lossScale;
    private readonly (Tensor Master, Tensor Working)[] _state, _buffers;
    private readonly (Parameter Master, Parameter Working)[] _weights;

    /// <summary>Wraps <paramref name="master"/>; <paramref name="working"/> is a fresh network of the same definition, which this takes over.</summary>
    /// <param name="master">The float32 network.</param>
    /// <param name="working">A fresh network of the same definition on the same device.</param>
    /// <param name="type">BFloat16 or Float16.</param>
    /// <param name="batchSize">The run's batch size: float16's loss scale.</param>
    public MixedPrecision(Sequential master, Sequential working, ScalarType type, int batchSize) : base(nameof(MixedPrecision))
    {
        _working = working;
        _type = type;
        _lossScale = type == ScalarType.Float16 ? batchSize : 1;
        register_module("working", working);
        working.to(type);
        foreach (var norm in working.modules().OfType<BatchNorm2d>()) norm.to(ScalarType.Float32);
        var masterState = master.state_dict();
        _state = working.state_dict().Select(entry => (masterState[entry.Key], entry.Value)).ToArray();
        var masterParameters = master.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        _weights = working.named_parameters().Select(p => (masterParameters[p.name], p.parameter)).ToArray();
        _buffers = working.named_buffers().Select(b => (masterState[b.name], b.buffer)).ToArray();
    }

    /// <summary>What the loss is multiplied by before the backward pass: the batch size in float16, else 1.</summary>
    public double LossScale => _lossScale;

    /// <summary>The loss to run the backward pass on: <paramref name="loss"/> × <see cref="LossScale"/>.</summary>
    public Tensor Scaled(Tensor loss) => _lossScale == 1 ? loss : loss * _lossScale;

    /// <summary>The copy's logits, as float32, for float32 <paramref name="input"/>.</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return _working.forward(input.to(_type)).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>Copies the master's weights and statistics into the copy (rounded to its type); also which parameters train now.</summary>
    public void LoadFromMaster()
    {
        using var _ = no_grad();
        foreach (var (master, working) in _state) working.copy_(master);
        foreach (var (master, working) in _weights) working.requires_grad = master.requires_grad;
    }

    /// <summary>Hands the copy's gradients (as float32) and BatchNorm statistics to the master and clears the copy's gradients.</summary>
    public void StoreInMaster()
    {
        // Every .grad read is a new handle, and a handle given as a gradient may go once set: the scope frees them all.
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (master, working) in _weights)
        {
            if (working.grad is not { } gradient) continue;
            var unscaled = _lossScale == 1 ? gradient.to(ScalarType.Float32) : gradient.to(ScalarType.Float32).div_(_lossScale);
            if (master.grad is { } existing) existing.copy_(unscaled);
            else master.grad = unscaled;
            working.grad = null;
        }
        // Running statistics change in the forward pass (in float32 here); weights only in the optimizer, on the master.
        foreach (var (master, working) in _buffers) master.copy_(working);
    }
}
