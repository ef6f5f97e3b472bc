using Cifar.Trainer.Training;

namespace Cifar.Trainer.Tests;

/// <summary>Short forms for the training runs the tests make.</summary>
internal static class TestRuns
{
    /// <summary>A run of <paramref name="training"/>, with a checkpoint file when given.</summary>
    public static TrainingRun Run(TrainingOptions training, string? checkpoint = null, bool resume = false) =>
        new() { Training = training, CheckpointPath = checkpoint, Resume = resume };
}
