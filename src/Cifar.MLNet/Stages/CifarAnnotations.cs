using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Stages;

/// <summary>
/// Column annotations through which the stages tell the estimator what they did: the normalization
/// stage records its mean and std on the features column, the augmentation stage its settings.
/// Annotations travel with the column through ML.NET transforms (a cache checkpoint included).
/// </summary>
public static class CifarAnnotations
{
    /// <summary>Annotation kind: the features' normalization (JSON of <see cref="PixelNormalization"/>).</summary>
    public const string Normalization = "Cifar.Normalization";

    /// <summary>Annotation kind: the train-time augmentation (JSON of <see cref="AugmentationOptions"/>).</summary>
    public const string Augmentation = "Cifar.Augmentation";

    /// <summary>The normalization recorded on <paramref name="column"/>, or null.</summary>
    public static PixelNormalization? ReadNormalization(DataViewSchema.Column column) =>
        Read<PixelNormalization>(column, Normalization);

    /// <summary>The augmentation recorded on <paramref name="column"/>, or null.</summary>
    public static AugmentationOptions? ReadAugmentation(DataViewSchema.Column column) =>
        Read<AugmentationOptions>(column, Augmentation);

    internal static void Add<T>(SchemaDefinition.Column column, string kind, T value) =>
        column.AddAnnotation(kind, JsonSerializer.Serialize(value).AsMemory(), TextDataViewType.Instance);

    /// <summary>Copies the annotations of <paramref name="source"/> onto <paramref name="target"/>, except <paramref name="skip"/>.</summary>
    internal static void CopyCifarAnnotations(DataViewSchema.Column source, SchemaDefinition.Column target, string? skip = null)
    {
        foreach (var kind in new[] { Normalization, Augmentation })
        {
            if (kind == skip || source.Annotations.Schema.GetColumnOrNull(kind) is null) continue;
            ReadOnlyMemory<char> value = default;
            source.Annotations.GetValue(kind, ref value);
            target.AddAnnotation(kind, value, TextDataViewType.Instance);
        }
    }

    private static T? Read<T>(DataViewSchema.Column column, string kind) where T : class
    {
        if (column.Annotations.Schema.GetColumnOrNull(kind) is null) return null;
        ReadOnlyMemory<char> json = default;
        column.Annotations.GetValue(kind, ref json);
        return JsonSerializer.Deserialize<T>(json.Span);
    }
}
