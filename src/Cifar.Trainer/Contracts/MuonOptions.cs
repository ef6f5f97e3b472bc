namespace Cifar;

/// <summary>
/// How <see cref="OptimizerKind.Muon"/> steps the convolution filters (the configuration's <c>Training:Muon</c>): Nesterov
/// momentum whose step is orthogonalised by a few Newton–Schulz iterations, on filters first rescaled so that each
/// layer's root-mean-square filter norm is 1. Every default is airbench94_muon's (docs/fast.md).
/// </summary>
public sealed record MuonOptions
{
    /// <summary>
    /// The filters' learning rate, times the run's schedule: a step moves each layer's filters by this times an
    /// orthogonalised update, whatever the loss's scale. Default 0.24.
    /// </summary>
    public double LearningRate { get; init; } = 0.24;

    /// <summary>Nesterov momentum of the filters' gradients, in [0, 1). Default 0.6.</summary>
    public double Momentum { get; init; } = 0.6;

    /// <summary>
    /// Newton–Schulz iterations that orthogonalise each step, 1 to 10 (airbench's quintic coefficients leave the singular
    /// values between about 0.7 and 1.2 after a few; more change little). Default 3.
    /// </summary>
    public int NewtonSchulzSteps { get; init; } = 3;
}
