using Cifar.MLNet.Stages;
using Microsoft.ML;

namespace Cifar.MLNet;

/// <summary>
/// The Cifar stages on ML.NET's catalogs: <c>ml.Transforms.LoadCifarImages()</c> and so on. Each stage is made of the
/// transforms of the catalog it is called on, so of that context (its log, its cancellation). ML.NET gives an extension
/// no way to the context itself: the normalization stage made here keeps its graph file in the system's temporary folder,
/// and its ONNX session is made as the context says (<see cref="KeepOnnxSessionOptionsAlive"/>); <c>new
/// CifarNormalizationEstimator(ml)</c> keeps the file in the context's folder and its session options alive. A trainers
/// catalog cannot reach the transforms catalog, so the CNN stage (<c>CifarCnn</c>, <c>AppendCifarCnn</c>) keeps a context of
/// its own, seeded by its options.
/// </summary>
public static class CifarCatalog
{
    /// <summary>The loading stage: image path → pixels of <paramref name="format"/> (default 32×32 RGB), channels first, 0–255.</summary>
    public static CifarImageLoadingEstimator LoadCifarImages(this TransformsCatalog catalog,
        string outputColumnName = CifarColumns.Pixels, string inputColumnName = CifarColumns.ImagePath, ImageFormat? format = null) =>
        new(catalog, outputColumnName, inputColumnName, format);

    /// <summary>The normalization stage: (x / 255 − mean) / std per channel; default the tutorial's 0.5 / 0.5.</summary>
    public static CifarNormalizationEstimator NormalizeCifarPixels(this TransformsCatalog catalog,
        PixelNormalization? normalization = null,
        string outputColumnName = CifarColumns.Features, string inputColumnName = CifarColumns.Pixels) =>
        new(catalog, tempFolder: null, normalization, outputColumnName, inputColumnName);

    /// <summary>The augmentation stage (train-time only); default the tutorial's flip 0.5, ColorJitter(), rotation 10°.</summary>
    public static CifarAugmentationEstimator AugmentCifarImages(this TransformsCatalog catalog,
        AugmentationOptions? settings = null, string columnName = CifarColumns.Features) =>
        new(catalog, settings, columnName);

    /// <summary>
    /// A recipe's stages: loading images of <paramref name="format"/> (default 32×32 RGB), then normalization and
    /// augmentation with the recipe's values. End them with <c>.AppendCifarCnn(CifarCnnOptions.For(recipe), testSplit)</c>.
    /// </summary>
    public static IEstimator<ITransformer> CifarStages(this TransformsCatalog catalog, CifarRecipe recipe, ImageFormat? format = null) =>
        catalog.LoadCifarImages(format: format)
            .Append(catalog.NormalizeCifarPixels(recipe.Normalization))
            .Append(catalog.AugmentCifarImages(recipe.Augmentation));

    /// <summary>
    /// Makes <paramref name="ml"/> create its ONNX Runtime sessions (fitting an ONNX stage, loading a zip) with one set of
    /// session options that lives as long as it does, with the settings ML.NET would use anyway. ONNX Runtime 1.30 lets the
    /// options ML.NET makes for each session be freed by a garbage collection during the session's creation, which crashes
    /// the process (rarely; most often right after training). Call it after setting the context's GPU device, if any: a
    /// context with a GPU device, or whose owner set its ONNX session options, is left as it is (and stays exposed), and a
    /// kept context ignores a GPU device or thread counts given to one ONNX transform. The CNN stage,
    /// <c>new CifarNormalizationEstimator(ml)</c> and <see cref="Prediction.CifarModel.Load(string, MLContext?)"/> do this to
    /// the contexts they use; call it on a context that fits <see cref="NormalizeCifarPixels"/> or <see cref="CifarStages"/>,
    /// or loads a zip with <c>ml.Model.Load</c>.
    /// </summary>
    /// <returns><paramref name="ml"/>.</returns>
    public static MLContext KeepOnnxSessionOptionsAlive(this MLContext ml) => OnnxSessionOptionsKeeper.Keep(ml);

    /// <summary>The CNN trainer; see <see cref="CifarCnnEstimator"/>.</summary>
    public static CifarCnnEstimator CifarCnn(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        CifarCnnOptions? options = null) => new(options);
}
