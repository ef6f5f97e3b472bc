using Cifar.MLNet.Stages;
using Cifar.Trainer.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet;

/// <summary>
/// Where the estimator's images come from, decided once per data view: the 0–255 pixels the normalization stage
/// read (the fast path: bytes, normalized on the device with <see cref="Normalization"/>), or the feature column's
/// floats as they are.
/// </summary>
/// <param name="Format">The images' shape.</param>
/// <param name="Column">The column read: the pixels column, or the features.</param>
/// <param name="Normalization">The normalization stage's mean and std; null for features used as they are.</param>
/// <param name="StageAugmentation">The augmentation stage's settings, or null.</param>
internal sealed record FeatureSource(ImageFormat Format, string Column, PixelNormalization? Normalization, AugmentationOptions? StageAugmentation)
{
    /// <summary>The source of <paramref name="features"/>, checked: a float vector of one image whose shape is known.</summary>
    /// <exception cref="ArgumentException">The column is no such vector, or the pixels it was normalized from are gone.</exception>
    public static FeatureSource Of(DataViewSchema schema, DataViewSchema.Column features, CifarCnnOptions options, string what)
    {
        if (features.Type is not VectorDataViewType { Size: > 0 } vector || vector.ItemType != NumberDataViewType.Single)
            throw new ArgumentException(
                $"{what}: column '{features.Name}' is {features.Type}; the estimator needs a known-size vector of floats holding one image, channels first");
        var declared = ImageFormat.Of(features.Type);
        if (declared is not null && options.ImageFormat is { } given && given != declared)
            throw new ArgumentException($"{what}: column '{features.Name}' declares {declared} images, the options' ImageFormat says {given}");
        if (declared is null && vector.Dimensions.Length > 1)
            throw new ArgumentException(
                $"{what}: column '{features.Name}' is {features.Type}: its dimensions are not [channels, height, width] with 1 or 3 channels (interleaved pixels? extract them with interleavePixelColors: false)");
        var format = declared ?? options.ImageFormat
            ?? throw new ArgumentException(
                $"{what}: column '{features.Name}' is {features.Type}, which declares no image shape [channels, height, width]: set CifarCnnOptions.ImageFormat (or extract the pixels with planar order, which declares it)");
        if (format.Size != vector.Size)
            throw new ArgumentException($"{what}: column '{features.Name}' holds {vector.Size} floats per row, but {format} images have {format.Size}");

        if (CifarAnnotations.ReadNormalization(features) is not { } normalization)
            return new FeatureSource(format, features.Name, null, null);
        var pixelsColumn = CifarAnnotations.ReadPixelsColumn(features)!; // the stage records both
        if (schema.GetColumnOrNull(pixelsColumn) is not { } pixels || ImageFormat.Of(pixels.Type) != format)
            throw new ArgumentException(
                $"{what} has no pixels column '{pixelsColumn}' of {format} pixels, which the normalization stage read: keep it until the estimator");
        return new FeatureSource(format, pixelsColumn, normalization, CifarAnnotations.ReadAugmentation(features));
    }

    /// <summary>The augmentation to train with: the stage's, or the options' (given once, and only what the features allow).</summary>
    /// <exception cref="ArgumentException">Given twice, or colour jitter on features that are not 0–255 pixels.</exception>
    public AugmentationOptions? Augmentation(CifarCnnOptions options)
    {
        if (StageAugmentation is not null && options.Augmentation is not null)
            throw new ArgumentException(
                "augmentation is given twice, by the augmentation stage and by CifarCnnOptions.Augmentation: keep one");
        if (Normalization is null && options.Augmentation is { HasColorJitter: true })
            throw new OptionsException($"{AugmentationOptions.Section}:ColorJitter",
                "needs 0-255 pixels: features not made by the normalization stage (NormalizeCifarPixels) can be flipped, translated and rotated only",
                options.Augmentation.ColorJitter);
        var augmentation = StageAugmentation ?? options.Augmentation;
        int side = Math.Min(Format.Height, Format.Width);
        if (augmentation is { Translate: > 0 } && augmentation.Translate >= side)
            throw new OptionsException($"{AugmentationOptions.Section}:{nameof(AugmentationOptions.Translate)}",
                $"must be less than the images' shorter side ({side} pixels of {Format}): reflect padding needs it", augmentation.Translate);
        return augmentation;
    }

    /// <summary>Reads every row's image and label into tensors.</summary>
    public TensorDataset Read(IDataView data, string labelColumnName, string what) =>
        TrainingDataReader.Read(data, Column, labelColumnName, what, Format, Normalization);
}
