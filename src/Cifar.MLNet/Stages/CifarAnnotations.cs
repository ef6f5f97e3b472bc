using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Stages;

/// <summary>
/// Column annotations through which the stages tell the estimator what they did: the normalization
/// stage records its mean and std and the pixels column it read on the features column, the augmentation
/// stage its settings. The estimator then trains on those 0–255 pixels, kept as bytes, and normalizes
/// them on the device with the recorded mean and std: the very features, at a quarter of the memory.
/// Annotations travel with the column through ML.NET transforms (a cache checkpoint included).
/// </summary>
internal static class CifarAnnotations
{
    /// <summary>Annotation kind: the features' normalization (JSON of <see cref="PixelNormalization"/>).</summary>
    public const string Normalization = "Cifar.Normalization";

    /// <summary>Annotation kind: the name of the 0–255 pixels column the features were normalized from (text).</summary>
    public const string PixelsColumn = "Cifar.PixelsColumn";

    /// <summary>Annotation kind: the train-time augmentation (JSON of <see cref="AugmentationOptions"/>).</summary>
    public const string Augmentation = "Cifar.Augmentation";

    /// <summary>The normalization recorded on <paramref name="column"/>, or null.</summary>
    public static PixelNormalization? ReadNormalization(DataViewSchema.Column column) =>
        Read<PixelNormalization>(column, Normalization);

    /// <summary>The pixels column recorded on <paramref name="column"/>, or null.</summary>
    public static string? ReadPixelsColumn(DataViewSchema.Column column) =>
        column.Annotations.Schema.GetColumnOrNull(PixelsColumn) is null ? null : ReadText(column, PixelsColumn).ToString();

    /// <summary>The augmentation recorded on <paramref name="column"/>, or null.</summary>
    public static AugmentationOptions? ReadAugmentation(DataViewSchema.Column column) =>
        Read<AugmentationOptions>(column, Augmentation);

    internal static void Add<T>(SchemaDefinition.Column column, string kind, T value) =>
        AddText(column, kind, JsonSerializer.Serialize(value));

    internal static void AddText(SchemaDefinition.Column column, string kind, string value) =>
        column.AddAnnotation(kind, value.AsMemory(), TextDataViewType.Instance);

    /// <summary>Copies the annotations of <paramref name="source"/> onto <paramref name="target"/>, except <paramref name="skip"/>.</summary>
    internal static void CopyCifarAnnotations(DataViewSchema.Column source, SchemaDefinition.Column target, string? skip = null)
    {
        foreach (var kind in new[] { Normalization, PixelsColumn, Augmentation })
        {
            if (kind == skip || source.Annotations.Schema.GetColumnOrNull(kind) is null) continue;
            target.AddAnnotation(kind, ReadText(source, kind), TextDataViewType.Instance);
        }
    }

    private static T? Read<T>(DataViewSchema.Column column, string kind) where T : class
    {
        if (column.Annotations.Schema.GetColumnOrNull(kind) is null) return null;
        return JsonSerializer.Deserialize<T>(ReadText(column, kind).Span);
    }

    private static ReadOnlyMemory<char> ReadText(DataViewSchema.Column column, string kind)
    {
        ReadOnlyMemory<char> value = default;
        column.Annotations.GetValue(kind, ref value);
        return value;
    }
}
