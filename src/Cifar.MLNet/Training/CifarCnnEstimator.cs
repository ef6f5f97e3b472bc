using Cifar.MLNet.Data;
using Cifar.MLNet.Stages;
using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet;

/// <summary>
/// Trains a TorchSharp CNN (the tutorial's SeedCnn by default) on images inside an ML.NET pipeline. The feature column
/// holds one image per row as floats, channels first: its shape [channels, height, width] (1 or 3 channels, any size
/// the network takes) comes from the column type's dimensions (ML.NET's ExtractPixels with planar order and the
/// normalization stage declare them) or from <see cref="CifarCnnOptions.ImageFormat"/>. Features made by the
/// normalization stage take the fast path: the trainer reads the 0–255 pixels it normalized, as bytes, and normalizes
/// them on the device as that stage does; it applies the augmentation stage's settings. Any other float features
/// are trained on as they are (their scaling is the model's), augmented by <see cref="CifarCnnOptions.Augmentation"/>.
/// <c>Fit</c> trains on the GPU when there is one (see <see cref="TrainingOptions.Device"/>), evaluates the validation
/// set after every epoch (or every <see cref="TrainingOptions.ValidationInterval"/>th and the last) and reports through the options' callbacks. The result scores <c>Score</c> (softmax
/// probabilities, slot names = class names) and <c>PredictedLabel</c> (the class name), and saves into a standard
/// ML.NET zip as ONNX.
/// </summary>
public sealed class CifarCnnEstimator : IEstimator<CifarCnnTransformer>
{
    private readonly MLContext _ml;
    private readonly CifarCnnOptions _options;

    /// <summary>Creates the estimator; the options are validated here.</summary>
    /// <param name="options">Options; null = the tutorial's defaults, no validation set.</param>
    /// <param name="ml">The ML.NET context (a new one when null), whose ONNX session options are kept alive
    /// (<see cref="CifarCatalog.KeepOnnxSessionOptionsAlive"/>).</param>
    /// <exception cref="OptionsException">An option is out of range; its key names it.</exception>
    public CifarCnnEstimator(CifarCnnOptions? options = null, MLContext? ml = null)
    {
        _options = options ?? new CifarCnnOptions();
        _options.Validate();
        _ml = OnnxSessionOptionsKeeper.Keep(ml ?? new MLContext(_options.Training.Seed));
    }

    /// <summary>The fewest classes a classifier trains on: the label's key type must have at least this many values.</summary>
    public const int MinimumClasses = 2;

    /// <summary>The options this estimator trains with.</summary>
    public CifarCnnOptions Options => _options;

    /// <inheritdoc />
    public CifarCnnTransformer Fit(IDataView input)
    {
        var (features, classNames) = CheckInput(input.Schema, "training data");
        var source = FeatureSource.Of(input.Schema, features, _options, "training data");
        var run = new TrainingRun
        {
            Model = _options.Model,
            Training = _options.Training,
            CheckpointPath = _options.CheckpointPath,
            Resume = _options.Resume,
        };
        // Before any image is read: a network that cannot be built for these images, or weights that do not fit it, fail at once.
        if (CnnTrainer.CheckModel(run, classNames.Count, source.Format.Shape) is { } note) _options.Notice?.Invoke(note);
        var augmentation = source.Augmentation(_options);
        var augmenter = augmentation is { IsIdentity: false } ? new BatchAugmenter(augmentation) : null;

        using var train = source.Read(input, _options.LabelColumnName, "training data");
        using var validation = ReadValidation(classNames, source.Format);
        var callbacks = new TrainingCallbacks
        {
            EpochCompleted = _options.EpochCompleted,
            BatchCompleted = _options.BatchCompleted,
            Resumed = _options.Resumed,
        };
        var trained = CnnTrainer.Train(train, validation, classNames.Count, run, augmenter, callbacks, _options.CancellationToken);
        try
        {
            return CifarCnnTransformer.Create(_ml, trained, classNames, features.Type, _options.FeatureColumnName, source.Format,
                source.Normalization, augmentation);
        }
        catch
        {
            trained.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        CifarCnnTransformer.ScoringMapping(_ml, _options.FeatureColumnName,
                ImageFormat.Cifar.PixelsType, Array.Empty<string>(), _ => throw new InvalidOperationException()) // sizes are not in a schema shape
            .GetOutputSchema(inputSchema);

    private TensorDataset? ReadValidation(IReadOnlyList<string> classNames, ImageFormat format)
    {
        if (_options.ValidationSet is not { } validation) return null;
        if (validation.Schema.GetColumnOrNull(_options.FeatureColumnName) is null)
            throw new ArgumentException(
                $"the validation set has no '{_options.FeatureColumnName}' column: featurize it with the stages fitted on the training data, or end the pipeline with AppendCifarCnn(options, validation), which does");
        var (features, validationClasses) = CheckInput(validation.Schema, "validation set");
        if (!validationClasses.SequenceEqual(classNames))
            throw new ArgumentException(
                $"the validation set's classes ({string.Join(", ", validationClasses)}) differ from the training data's ({string.Join(", ", classNames)})");
        // A validation set featurized elsewhere may carry another normalization: its own annotations decide.
        var source = FeatureSource.Of(validation.Schema, features, _options, "validation set");
        if (source.Format != format)
            throw new ArgumentException($"the validation set's images are {source.Format}, the training data's {format}");
        return source.Read(validation, _options.LabelColumnName, "validation set");
    }

    private (DataViewSchema.Column Features, IReadOnlyList<string> ClassNames) CheckInput(DataViewSchema schema, string what)
    {
        var features = schema.GetColumnOrNull(_options.FeatureColumnName)
            ?? throw new ArgumentException($"{what} has no feature column '{_options.FeatureColumnName}'");
        var label = schema.GetColumnOrNull(_options.LabelColumnName)
            ?? throw new ArgumentException($"{what} has no label column '{_options.LabelColumnName}'");
        if (label.Type is not KeyDataViewType { Count: >= MinimumClasses })
            throw new ArgumentException(
                $"{what}: label column '{label.Name}' is {label.Type}; it must be a key type over at least {MinimumClasses} classes (use MapValueToKey, or the Cifar data loader)");
        return (features, CifarDataLoader.ClassNames(label));
    }
}
