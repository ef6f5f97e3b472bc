using Cifar.MLNet.Data;
using Cifar.Trainer.Augmentation;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Stages;

/// <summary>
/// The augmentation stage: train-time RandomHorizontalFlip, ColorJitter and RandomRotation with
/// torchvision's semantics. It acts only while <see cref="Cifar.MLNet.CifarCnnEstimator"/> is fitting: the
/// stage records its settings on the features column and the estimator draws fresh, seeded
/// augmentations for every batch of every epoch. Everywhere else (validation, <c>Transform</c>,
/// the saved model, prediction) it is the identity.
/// </summary>
public sealed class CifarAugmentationEstimator : IEstimator<CifarAugmentationTransformer>
{
    private readonly MLContext _ml;
    private readonly AugmentationSettings _settings;
    private readonly string _columnName;

    /// <summary>Creates the stage.</summary>
    /// <param name="ml">The ML.NET context.</param>
    /// <param name="settings">What to augment; null = the tutorial's (flip 0.5, ColorJitter(), rotation 10°).</param>
    /// <param name="columnName">The normalized features column, as the normalization stage produced it.</param>
    /// <exception cref="ArgumentException">A setting is out of range; the message names it.</exception>
    public CifarAugmentationEstimator(MLContext ml, AugmentationSettings? settings = null, string columnName = CifarColumns.Features)
    {
        _ml = ml;
        _settings = settings ?? AugmentationSettings.Tutorial;
        Validate(_settings);
        _columnName = columnName;
    }

    /// <summary>Checks the ranges torchvision accepts.</summary>
    /// <exception cref="ArgumentException">Names the setting that is out of range.</exception>
    public static void Validate(AugmentationSettings s)
    {
        static void Check(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Check(s.HorizontalFlipProbability is >= 0 and <= 1, "augmentation HorizontalFlip probability must be in [0, 1]");
        Check(s.Brightness >= 0 && double.IsFinite(s.Brightness), "augmentation ColorJitter Brightness must be 0 or more");
        Check(s.Contrast >= 0 && double.IsFinite(s.Contrast), "augmentation ColorJitter Contrast must be 0 or more");
        Check(s.Saturation >= 0 && double.IsFinite(s.Saturation), "augmentation ColorJitter Saturation must be 0 or more");
        Check(s.Hue is >= 0 and <= 0.5, "augmentation ColorJitter Hue must be in [0, 0.5]");
        Check(s.RotationDegrees is >= 0 and <= 180, "augmentation RotationDegrees must be in [0, 180]");
    }

    /// <inheritdoc />
    public CifarAugmentationTransformer Fit(IDataView input)
    {
        var features = input.Schema.GetColumnOrNull(_columnName)
            ?? throw new ArgumentException($"the augmentation stage needs a '{_columnName}' column", nameof(input));
        if (CifarAnnotations.ReadNormalization(features) is null)
            throw new ArgumentException(
                $"column '{_columnName}' does not come from the normalization stage: put the augmentation after NormalizeCifarPixels, which it needs to work in pixel space", nameof(input));
        var inMemory = Mapping(features).Fit(input);
        return new CifarAugmentationTransformer(inMemory, new TransformerChain<ITransformer>(), _settings);
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => inputSchema;

    // The identity on values, re-declaring the column with the augmentation annotation added.
    private IEstimator<ITransformer> Mapping(DataViewSchema.Column features)
    {
        var input = SchemaOnly.VectorDefinition(_columnName, features.Type);
        var output = SchemaOnly.VectorDefinition(_columnName, features.Type);
        CifarAnnotations.CopyCifarAnnotations(features, output[0], skip: CifarAnnotations.Augmentation);
        CifarAnnotations.Add(output[0], CifarAnnotations.Augmentation, _settings);
        return _ml.Transforms.CustomMapping<SchemaOnly.VectorRow, SchemaOnly.VectorRow>(
            (src, dst) => dst.Values = src.Values, contractName: null, input, output);
    }
}

/// <summary>
/// The fitted augmentation stage: the identity, carrying its settings for the estimator
/// (see <see cref="CifarAugmentationEstimator"/>). Saved as an empty transformer chain.
/// </summary>
public sealed class CifarAugmentationTransformer : DelegatingTransformer
{
    internal CifarAugmentationTransformer(ITransformer inMemory, ITransformer savedForm, AugmentationSettings settings)
        : base(inMemory, savedForm)
    {
        Settings = settings;
    }

    /// <summary>The augmentation the estimator applies while fitting.</summary>
    public AugmentationSettings Settings { get; }
}
