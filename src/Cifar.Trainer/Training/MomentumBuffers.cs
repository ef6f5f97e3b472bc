using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// One momentum buffer per parameter, as PyTorch's SGD keeps them: created from the first step, then
/// buffer ← factor·buffer + step; saved in a checkpoint with a presence flag per parameter.
/// </summary>
internal sealed class MomentumBuffers(IReadOnlyList<Tensor> parameters) : IDisposable
{
    private readonly Tensor?[] _buffers = new Tensor?[parameters.Count];

    /// <summary>Parameter <paramref name="index"/>'s buffer after adding <paramref name="step"/>: factor·buffer + step, or a copy of the first step.</summary>
    public Tensor Accumulate(int index, Tensor step, double factor)
    {
        if (_buffers[index] is not { } buffer) return _buffers[index] = step.clone().DetachFromDisposeScope();
        buffer.mul_(factor).add_(step);
        return buffer;
    }

    public void Save(BinaryWriter writer)
    {
        foreach (var buffer in _buffers)
        {
            writer.Write(buffer is not null);
            buffer?.Save(writer);
        }
    }

    public void Load(BinaryReader reader)
    {
        for (int i = 0; i < _buffers.Length; i++)
        {
            _buffers[i]?.Dispose();
            _buffers[i] = null;
            if (!reader.ReadBoolean()) continue;
            var buffer = zeros_like(parameters[i]).DetachFromDisposeScope();
            buffer.Load(reader);
            _buffers[i] = buffer;
        }
    }

    public void Dispose()
    {
        foreach (var buffer in _buffers) buffer?.Dispose();
    }
}
