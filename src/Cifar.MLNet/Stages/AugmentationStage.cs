using Cifar.MLNet.Data;
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
    private readonly TransformsCatalog _transforms;
    private readonly AugmentationOptions _settings;
    private readonly string _columnName;

    /// <summary>Creates the stage.</summary>
    /// <param name="ml">The ML.NET context whose transforms the stage is made of.</param>
    /// <param name="settings">What to augment; null = the tutorial's (flip 0.5, ColorJitter(), rotation 10°).</param>
    /// <param name="columnName">The normalized features column, as the normalization stage produced it.</param>
    /// <exception cref="OptionsException">A setting is out of range; its key names it.</exception>
    public CifarAugmentationEstimator(MLContext ml, AugmentationOptions? settings = null, string columnName = CifarColumns.Features)
        : this(ml.Transforms, settings, columnName)
    {
    }

    /// <summary>The stage made of the transforms of <paramref name="transforms"/>, the caller's catalog.</summary>
    internal CifarAugmentationEstimator(TransformsCatalog transforms, AugmentationOptions? settings, string columnName)
    {
        _transforms = transforms;
        _settings = settings ?? AugmentationOptions.Tutorial;
        _settings.Validate();
        _columnName = columnName;
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
        return _transforms.CustomMapping<SchemaOnly.VectorRow, SchemaOnly.VectorRow>(
            (src, dst) => dst.Values = src.Values, contractName: null, input, output);
    }
}

/// <summary>
/// The fitted augmentation stage: the identity, carrying its settings for the estimator
/// (see <see cref="CifarAugmentationEstimator"/>). Saved as an empty transformer chain.
/// </summary>
public sealed class CifarAugmentationTransformer : DelegatingTransformer
{
    internal CifarAugmentationTransformer(ITransformer inMemory, ITransformer savedForm, AugmentationOptions settings)
        : base(inMemory, savedForm)
    {
        Settings = settings;
    }

    /// <summary>The augmentation the estimator applies while fitting.</summary>
    public AugmentationOptions Settings { get; }
}
