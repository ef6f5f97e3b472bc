using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Cifar.MLNet.Prediction;

/// <summary>
/// A saved Cifar model loaded for prediction from image files, encoded image bytes or decoded
/// images. Needs ML.NET and ONNX Runtime only, never libtorch. Thread-safe: predictions run on
/// pooled engines (<see cref="PredictionEnginePool{TInput, TOutput}"/>), one pool per kind of input.
/// </summary>
public sealed class CifarModel : IDisposable
{
    private readonly PredictionEnginePool<ImageInput, ImagePrediction> _fromPath;
    private readonly PredictionEnginePool<InMemoryImageInput, ImagePrediction> _fromImage;

    private CifarModel(MLContext ml, ITransformer model, DataViewSchema inputSchema)
    {
        Transformer = model;
        ClassNames = inputSchema.GetColumnOrNull(CifarColumns.Label) is { Type: KeyDataViewType } label
            ? Data.CifarDataLoader.ClassNames(label)
            : Array.Empty<string>();
        _fromPath = new PredictionEnginePool<ImageInput, ImagePrediction>(ml, model);
        _fromImage = new PredictionEnginePool<InMemoryImageInput, ImagePrediction>(ml, WithoutFileLoading(model));
    }

    /// <summary>
    /// Class names in score order, from the label column of the schema the model was saved with
    /// (empty when it was saved without one).
    /// </summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The loaded transformer chain (input column <c>ImagePath</c>).</summary>
    public ITransformer Transformer { get; }

    /// <summary>Loads a model zip saved by <c>ml.Model.Save</c> from a Cifar pipeline.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="InvalidDataException">The file is not a readable ML.NET zip, or not of a Cifar image classifier.</exception>
    public static CifarModel Load(string path, MLContext? ml = null)
    {
        if (Directory.Exists(path)) throw new InvalidDataException($"{path}: is a folder, not a model file");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: model file not found", path);
        ml ??= new MLContext();
        ITransformer model;
        DataViewSchema inputSchema;
        try
        {
            model = ml.Model.Load(path, out inputSchema);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"{path}: not a readable ML.NET model zip ({OneLine(e.Message)})");
        }
        try
        {
            CheckIsImageClassifier(path, model, ml);
        }
        catch
        {
            (model as IDisposable)?.Dispose(); // e.g. an ONNX Runtime session
            throw;
        }
        return new CifarModel(ml, model, inputSchema);
    }

    private static void CheckIsImageClassifier(string path, ITransformer model, MLContext ml)
    {
        DataViewSchema output;
        try
        {
            output = model.GetOutputSchema(ml.Data.LoadFromEnumerable(Array.Empty<ImageInput>()).Schema);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not a Cifar image classifier: it cannot take an ImagePath ({OneLine(e.Message)})");
        }
        if (output.GetColumnOrNull(CifarColumns.Score) is not { Type: VectorDataViewType { ItemType: NumberDataViewType } }
            || output.GetColumnOrNull(CifarColumns.PredictedLabel) is not { Type: TextDataViewType })
            throw new InvalidDataException($"{path}: not a Cifar image classifier: it gives no Score vector and text PredictedLabel");
    }

    private static string OneLine(string message) => message.Split('\n', 2)[0].Trim();

    /// <summary>Predicts the class of an image file.</summary>
    public ImagePrediction Predict(string imagePath)
    {
        return _fromPath.Predict(new ImageInput { ImagePath = imagePath });
    }

    /// <summary>Predicts the class of a decoded image.</summary>
    public ImagePrediction Predict(MLImage image)
    {
        return _fromImage.Predict(new InMemoryImageInput { Image = image });
    }

    /// <summary>Predicts the class of an encoded image (JPEG, PNG, BMP, …).</summary>
    public ImagePrediction Predict(byte[] encodedImage)
    {
        using var image = MLImage.CreateFromStream(new MemoryStream(encodedImage, writable: false));
        return Predict(image);
    }

    /// <summary>
    /// Scores a data view: by <c>ImagePath</c> when it has one, else from already decoded
    /// <c>Pixels</c> (as the binary-batch loader gives) with the model's image steps skipped.
    /// </summary>
    public IDataView Transform(IDataView data)
    {
        if (data.Schema.GetColumnOrNull(CifarColumns.ImagePath) is not null) return Transformer.Transform(data);
        if (data.Schema.GetColumnOrNull(CifarColumns.Pixels) is not null) return WithoutImageSteps(Transformer).Transform(data);
        throw new ArgumentException($"the data has neither an '{CifarColumns.ImagePath}' nor a '{CifarColumns.Pixels}' column");
    }

    /// <summary>
    /// The same model taking a decoded <c>Image</c> column: the chain with ImageAnalytics'
    /// file-loading transformer taken out.
    /// </summary>
    public static ITransformer WithoutFileLoading(ITransformer model) =>
        new TransformerChain<ITransformer>(Flatten(model).Where(t => t is not ImageLoadingTransformer).ToArray());

    /// <summary>The same model taking a <c>Pixels</c> column: without loading, resizing and pixel extraction.</summary>
    public static ITransformer WithoutImageSteps(ITransformer model) =>
        new TransformerChain<ITransformer>(Flatten(model)
            .Where(t => t is not (ImageLoadingTransformer or ImageResizingTransformer or ImagePixelExtractingTransformer)).ToArray());

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
