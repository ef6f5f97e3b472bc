using Microsoft.ML;

namespace Cifar.MLNet;

/// <summary>
/// Options of <see cref="CifarCnnEstimator"/>, laid out as ML.NET's trainer options: the recipe
/// (<see cref="Model"/>, <see cref="Training"/>, whose defaults are the tutorial's), the columns, the validation set,
/// the checkpoint and the progress callbacks. Immutable; <c>with</c> makes variants.
/// </summary>
public sealed record CifarCnnOptions
{
    /// <summary>
    /// Column of images, one per row as floats, channels first (the normalization stage's, or any float features such as
    /// ML.NET's ExtractPixels gives). Default <c>Features</c>.
    /// </summary>
    public string FeatureColumnName { get; init; } = CifarColumns.Features;

    /// <summary>Key-typed label column; its key values are the class names. Default <c>Label</c>.</summary>
    public string LabelColumnName { get; init; } = CifarColumns.Label;

    /// <summary>
    /// The features' image shape where the column's type declares none (a flat vector): channels (1 or 3), height and
    /// width. Default null: read from the column's dimensions.
    /// </summary>
    public ImageFormat? ImageFormat { get; init; }

    /// <summary>
    /// Train-time augmentation of features that do not come through the augmentation stage (a plain ML.NET
    /// featurization has no augmentation stage of its own): the same settings, applied to every training batch.
    /// Colour jitter needs the normalization stage's 0–255 pixels. Default null: none.
    /// </summary>
    public AugmentationOptions? Augmentation { get; init; }

    /// <summary>The network and its initial weights. Default: the tutorial's SeedCnn, freshly initialised.</summary>
    public ModelOptions Model { get; init; } = new();

    /// <summary>The hyper-parameters. Default: the tutorial's (Adam 0.001, weight decay 5e-4, batch 32, 15 epochs).</summary>
    public TrainingOptions Training { get; init; } = new();

    /// <summary>
    /// Data evaluated after every epoch, or null: rows with the feature column, made by the very stages that made the
    /// training data's (<see cref="CifarPipeline.AppendCifarCnn"/> does this for raw split data).
    /// </summary>
    public IDataView? ValidationSet { get; init; }

    /// <summary>Called after every epoch with its metrics.</summary>
    public Action<EpochMetrics>? EpochCompleted { get; init; }

    /// <summary>Called after every training batch (for progress bars).</summary>
    public Action<BatchProgress>? BatchCompleted { get; init; }

    /// <summary>
    /// Called before training with a one-line note on how it starts where that is not plain: initial weights
    /// (<see cref="ModelOptions.InitialWeights"/>) of other classes or image size, whose head is left fresh.
    /// </summary>
    public Action<string>? Notice { get; init; }

    /// <summary>Called once when <c>Fit</c> resumes from a checkpoint, with the epochs done before.</summary>
    public Action<IReadOnlyList<EpochMetrics>>? Resumed { get; init; }

    /// <summary>Stops training between batches; <c>Fit</c> then throws <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>
    /// File to write a checkpoint to after every epoch (weights, optimizer and random states, history), atomically;
    /// null (default) for none.
    /// </summary>
    public string? CheckpointPath { get; init; }

    /// <summary>
    /// Continue from <see cref="CheckpointPath"/> when it exists: the result equals, bit for bit on the CPU, an
    /// uninterrupted run with the same options (except for networks with Dropout, whose masks come from libtorch's
    /// process-wide generator, which the checkpoint does not hold). Default false.
    /// </summary>
    public bool Resume { get; init; }

    /// <summary>The trainer's options for <paramref name="recipe"/>: its network and hyper-parameters; add callbacks with <c>with</c>.</summary>
    public static CifarCnnOptions For(CifarRecipe recipe) => new() { Model = recipe.Model, Training = recipe.Training };

    /// <summary>Checks every value.</summary>
    /// <exception cref="OptionsException">An option is out of range; its key names it (<c>Training:Epochs</c>).</exception>
    public void Validate()
    {
        new OptionChecks("")
            .Check(!string.IsNullOrWhiteSpace(FeatureColumnName), nameof(FeatureColumnName), "must not be empty", FeatureColumnName)
            .Check(!string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must not be empty", LabelColumnName)
            .Check(Model is not null, nameof(Model), "must be set", Model)
            .Check(Training is not null, nameof(Training), "must be set", Training)
            .Check(!Resume || CheckpointPath is not null, nameof(Resume), "needs a CheckpointPath", Resume);
        Model!.Validate();
        Training!.Validate();
        ImageFormat?.Validate();
        Augmentation?.Validate();
    }
}
