using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Prediction;

/// <summary>
/// A saved Cifar model loaded for prediction from image files, encoded image bytes or decoded
/// images. Needs ML.NET and ONNX Runtime only, never libtorch. Thread-safe: each kind of input has
/// one prediction engine, used under a lock (ML.NET's engines are not thread-safe).
/// </summary>
public sealed class CifarModel : IDisposable
{
    private readonly PredictionEngine<ImageInput, ImagePrediction> _fromPath;
    private readonly PredictionEngine<InMemoryImageInput, ImagePrediction> _fromImage;

    private CifarModel(MLContext ml, ITransformer model)
    {
        Transformer = model;
        _fromPath = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(model);
        _fromImage = ml.Model.CreatePredictionEngine<InMemoryImageInput, ImagePrediction>(WithoutFileLoading(model));
    }

    /// <summary>The loaded transformer chain (input column <c>ImagePath</c>).</summary>
    public ITransformer Transformer { get; }

    /// <summary>Loads a model zip saved by <c>ml.Model.Save</c> from a Cifar pipeline.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public static CifarModel Load(string path, MLContext? ml = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: model file not found", path);
        ml ??= new MLContext();
        return new CifarModel(ml, ml.Model.Load(path, out _));
    }

    /// <summary>Predicts the class of an image file.</summary>
    public ImagePrediction Predict(string imagePath)
    {
        lock (_fromPath) return _fromPath.Predict(new ImageInput { ImagePath = imagePath });
    }

    /// <summary>Predicts the class of a decoded image.</summary>
    public ImagePrediction Predict(MLImage image)
    {
        lock (_fromImage) return _fromImage.Predict(new InMemoryImageInput { Image = image });
    }

    /// <summary>Predicts the class of an encoded image (JPEG, PNG, BMP, …).</summary>
    public ImagePrediction Predict(byte[] encodedImage)
    {
        using var image = MLImage.CreateFromStream(new MemoryStream(encodedImage, writable: false));
        return Predict(image);
    }

    /// <summary>
    /// The same model taking a decoded <c>Image</c> column: the chain with ImageAnalytics'
    /// file-loading transformer taken out.
    /// </summary>
    public static ITransformer WithoutFileLoading(ITransformer model)
    {
        var steps = Flatten(model).Where(t => t is not ImageLoadingTransformer).ToArray();
        return new TransformerChain<ITransformer>(steps);
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer transformer) =>
        transformer is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : new[] { transformer };

    /// <inheritdoc />
    public void Dispose()
    {
        _fromPath.Dispose();
        _fromImage.Dispose();
        (Transformer as IDisposable)?.Dispose();
    }
}
