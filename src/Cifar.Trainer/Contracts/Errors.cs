namespace Cifar;

/// <summary>The loss became NaN or infinite; the message names the epoch and step.</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(int epoch, long step, int lastGoodEpoch)
        : base($"the training loss became non-finite at epoch {epoch}, step {step}" +
               (lastGoodEpoch > 0 ? $"; the checkpoint of epoch {lastGoodEpoch} is kept" : "") +
               " (try a smaller learning rate)")
    {
        Epoch = epoch;
        Step = step;
    }

    /// <summary>1-based epoch of the first non-finite loss.</summary>
    public int Epoch { get; }

    /// <summary>1-based step (batch) within that epoch.</summary>
    public long Step { get; }
}

/// <summary>A checkpoint that cannot be used to resume; the message says why, on one line.</summary>
public sealed class CheckpointException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CheckpointException(string message) : base(message) { }
}

/// <summary>A libtorch that cannot be used; the message is one line naming the directory and the cause.</summary>
public sealed class LibtorchLoadException(string message) : Exception(message);

/// <summary>Weights to start from that do not fit the network, or a file that cannot be read; the message is one line.</summary>
public sealed class InitialWeightsException : Exception
{
    /// <summary>Creates the exception.</summary>
    public InitialWeightsException(string message) : base(message) { }
}

/// <summary>
/// libtorch's CPU convolutions compute wrong results on this machine (checked before training starts); the message is one
/// line saying what was off and what to try.
/// </summary>
public sealed class CpuKernelsWrongException(string message) : Exception(message);
