using Cifar.MLNet.Data;
using Cifar.MLNet.Stages;
using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet;

/// <summary>
/// Trains a TorchSharp CNN (the tutorial's SeedCnn by default) on normalized CIFAR images inside
/// an ML.NET pipeline. <c>Fit</c> reads the key labels and, as bytes, the 0–255 pixels the normalization
/// stage normalized into the features (normalizing them on the device as that stage does), trains on the GPU when
/// there is one (see <see cref="TrainingOptions.Device"/>), applies the augmentation recorded by
/// the augmentation stage to every training batch, evaluates the validation set after every epoch
/// and reports through the options' callbacks. The result scores <c>Score</c> (softmax
/// probabilities, slot names = class names) and <c>PredictedLabel</c> (the class name), and saves
/// into a standard ML.NET zip as ONNX.
/// </summary>
public sealed class CifarCnnEstimator : IEstimator<CifarCnnTransformer>
{
    private readonly MLContext _ml;
    private readonly CifarCnnOptions _options;

    /// <summary>Creates the estimator; the options are validated here.</summary>
    /// <param name="options">Options; null = the tutorial's defaults, no validation set.</param>
    /// <param name="ml">The ML.NET context (a new one when null).</param>
    /// <exception cref="OptionsException">An option is out of range; its key names it.</exception>
    public CifarCnnEstimator(CifarCnnOptions? options = null, MLContext? ml = null)
    {
        _options = options ?? new CifarCnnOptions();
        _options.Validate();
        _ml = ml ?? new MLContext(_options.Training.Seed);
    }

    /// <summary>The fewest classes a classifier trains on: the label's key type must have at least this many values.</summary>
    public const int MinimumClasses = 2;

    /// <summary>The options this estimator trains with.</summary>
    public CifarCnnOptions Options => _options;

    /// <inheritdoc />
    public CifarCnnTransformer Fit(IDataView input)
    {
        var (features, classNames) = CheckInput(input.Schema, "training data");
        var source = StageOutput(input.Schema, features, "training data");
        var run = new TrainingRun
        {
            Model = _options.Model,
            Training = _options.Training,
            CheckpointPath = _options.CheckpointPath,
            Resume = _options.Resume,
        };
        // Before any image is read: a network that cannot be built, or weights that do not fit it, fail at once.
        CnnTrainer.CheckModel(run, classNames.Count);
        var augmentation = CifarAnnotations.ReadAugmentation(features);
        var augmenter = augmentation is { IsIdentity: false } ? new BatchAugmenter(augmentation) : null;

        using var train = TrainingDataReader.Read(input, source.PixelsColumn, _options.LabelColumnName, "training data", source.Normalization);
        using var validation = ReadValidation(classNames);
        var callbacks = new TrainingCallbacks
        {
            EpochCompleted = _options.EpochCompleted,
            BatchCompleted = _options.BatchCompleted,
            Resumed = _options.Resumed,
        };
        var trained = CnnTrainer.Train(train, validation, classNames.Count, run, augmenter, callbacks, _options.CancellationToken);
        try
        {
            return CifarCnnTransformer.Create(_ml, trained, classNames, features.Type, _options.FeatureColumnName, source.Normalization, augmentation);
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
                new VectorDataViewType(NumberDataViewType.Single, CifarImage.Size), Array.Empty<string>(), _ => throw new InvalidOperationException())
            .GetOutputSchema(inputSchema);

    private TensorDataset? ReadValidation(IReadOnlyList<string> classNames)
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
        var source = StageOutput(validation.Schema, features, "validation set");
        return TrainingDataReader.Read(validation, source.PixelsColumn, _options.LabelColumnName, "validation set", source.Normalization);
    }

    /// <summary>
    /// Where the features came from: the normalization stage's mean and std and the 0–255 pixels column it read,
    /// which the trainer reads instead of the features (as bytes, normalized on the device to the same values).
    /// </summary>
    private static (string PixelsColumn, PixelNormalization Normalization) StageOutput(DataViewSchema schema,
        DataViewSchema.Column features, string what)
    {
        if (CifarAnnotations.ReadNormalization(features) is not { } normalization
            || CifarAnnotations.ReadPixelsColumn(features) is not { } pixelsColumn)
            throw new ArgumentException(
                $"{what}: column '{features.Name}' does not come from the normalization stage (NormalizeCifarPixels), whose pixels the estimator trains on");
        var pixels = schema.GetColumnOrNull(pixelsColumn);
        if (pixels is null || !CifarImageLoadingEstimator.IsPixelsType(pixels.Value.Type))
            throw new ArgumentException(
                $"{what} has no pixels column '{pixelsColumn}' of {CifarImage.Size} floats, which the normalization stage read: keep it until the estimator");
        return (pixelsColumn, normalization);
    }

    private (DataViewSchema.Column Features, IReadOnlyList<string> ClassNames) CheckInput(DataViewSchema schema, string what)
    {
        var features = schema.GetColumnOrNull(_options.FeatureColumnName)
            ?? throw new ArgumentException($"{what} has no feature column '{_options.FeatureColumnName}'");
        if (!CifarImageLoadingEstimator.IsPixelsType(features.Type))
            throw new ArgumentException($"{what}: column '{features.Name}' is {features.Type}, expected {CifarImage.Size} floats (3×32×32)");
        var label = schema.GetColumnOrNull(_options.LabelColumnName)
            ?? throw new ArgumentException($"{what} has no label column '{_options.LabelColumnName}'");
        if (label.Type is not KeyDataViewType { Count: >= MinimumClasses })
            throw new ArgumentException(
                $"{what}: label column '{label.Name}' is {label.Type}; it must be a key type over at least {MinimumClasses} classes (use MapValueToKey, or the Cifar data loader)");
        return (features, CifarDataLoader.ClassNames(label));
    }
}
