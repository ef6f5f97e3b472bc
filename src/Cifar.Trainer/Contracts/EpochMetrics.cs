namespace Cifar;

/// <summary>What one epoch of training measured; accuracies are fractions in [0, 1].</summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="TrainLoss">Mean cross-entropy over the epoch's training batches (as trained, augmented if augmentation is on).</param>
/// <param name="TrainAccuracy">Fraction of training images classified right while training.</param>
/// <param name="ValidationLoss">
/// Mean cross-entropy on the validation set after the epoch, or null where it was not validated (no validation set, or
/// an epoch that <see cref="TrainingOptions.ValidationInterval"/> skips).
/// </param>
/// <param name="ValidationAccuracy">Validation accuracy after the epoch, or null where it was not validated.</param>
/// <param name="Seconds">Wall time of the epoch, validation included.</param>
public sealed record EpochMetrics(
    int Epoch,
    double TrainLoss,
    double TrainAccuracy,
    double? ValidationLoss,
    double? ValidationAccuracy,
    double Seconds)
{
    /// <summary>Wall time of the epoch's training batches alone (no validation, no checkpoint).</summary>
    public double? TrainSeconds { get; init; }
}

/// <summary>Progress inside an epoch, for progress bars.</summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="Batch">Batches done in this epoch.</param>
/// <param name="BatchCount">Batches in the epoch.</param>
public readonly record struct BatchProgress(int Epoch, int Batch, int BatchCount);

/// <summary>A network's mean cross-entropy, accuracy and confusion matrix on a labelled set.</summary>
/// <param name="Loss">Mean cross-entropy (natural log), the multiclass log-loss.</param>
/// <param name="Accuracy">Fraction of images classified right.</param>
/// <param name="ConfusionMatrix">Counts [true class][predicted class].</param>
public sealed record ValidationResult(double Loss, double Accuracy, long[][] ConfusionMatrix)
{
    /// <summary>Loss and accuracy, for <c>var (loss, accuracy) = ...</c>.</summary>
    public void Deconstruct(out double loss, out double accuracy)
    {
        loss = Loss;
        accuracy = Accuracy;
    }
}
