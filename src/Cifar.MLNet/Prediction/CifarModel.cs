using Cifar.MLNet.Data;
using Cifar.MLNet.Stages;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Cifar.MLNet.Prediction;

/// <summary>
/// A saved Cifar model loaded for prediction from image files, encoded image bytes or decoded
/// images. Needs ML.NET and ONNX Runtime only, never libtorch. Thread-safe: predictions run on
/// pooled prediction engines, one pool per kind of input.
/// </summary>
public sealed class CifarModel : IDisposable
{
    private readonly EnginePool<ImageInput, ImagePrediction> _fromPath;
    private readonly EnginePool<InMemoryImageInput, ImagePrediction> _fromImage;
    private readonly MLContext _ml;
    private int _disposed;

    private CifarModel(MLContext ml, ITransformer model, DataViewSchema inputSchema, ImageFormat? imageFormat, ModelQuantization? quantization)
    {
        _ml = ml;
        Quantization = quantization;
        Transformer = model;
        ImageFormat = imageFormat;
        ClassNames = inputSchema.GetColumnOrNull(CifarColumns.Label) is { Type: KeyDataViewType } label
            ? Data.CifarDataLoader.ClassNames(label)
            : Array.Empty<string>();
        _fromPath = new EnginePool<ImageInput, ImagePrediction>(ml, model);
        _fromImage = new EnginePool<InMemoryImageInput, ImagePrediction>(ml, WithoutFileLoading(model));
    }

    /// <summary>
    /// Class names in score order, from the label column of the schema the model was saved with
    /// (empty when it was saved without one).
    /// </summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>
    /// The images the model reads: every image is resized to this size and read in these colours; null where its image
    /// steps declare no [channels, height, width] (pixels extracted interleaved, say).
    /// </summary>
    public ImageFormat? ImageFormat { get; }

    /// <summary>How the zip was quantized (<see cref="Export.CifarQuantization"/>); null for a float32 model.</summary>
    public ModelQuantization? Quantization { get; }

    /// <summary>The loaded transformer chain (input column <c>ImagePath</c>).</summary>
    public ITransformer Transformer { get; }

    /// <summary>
    /// Loads a model zip saved by <c>ml.Model.Save</c> from a Cifar pipeline, in <paramref name="ml"/> (a new context when
    /// null), whose ONNX session options it keeps alive (<see cref="CifarCatalog.KeepOnnxSessionOptionsAlive"/>).
    /// </summary>
    /// <exception cref="FileNotFoundException">There is no such file (or a symbolic link to nothing).</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    /// <exception cref="InvalidDataException">A folder, not a readable ML.NET zip, or not of a Cifar image classifier.</exception>
    public static CifarModel Load(string path, MLContext? ml = null)
    {
        ImageFiles.RequireReadableFile(path, "model file");
        using var stream = File.OpenRead(path);
        return Load(stream, path, ml);
    }

    /// <summary>
    /// Loads a model zip from a stream, e.g. bytes read once so that what is loaded is exactly what
    /// was hashed. <paramref name="name"/> names the model in messages.
    /// </summary>
    /// <exception cref="InvalidDataException">Not a readable ML.NET zip, not of a Cifar image classifier, or an int8 zip with
    /// 8-bit weights on a processor without VNNI (<see cref="ModelQuantization.WeightBits"/>).</exception>
    public static CifarModel Load(Stream stream, string name, MLContext? ml = null)
    {
        ml = OnnxSessionOptionsKeeper.Keep(ml ?? new MLContext());
        RequireZipArchive(stream, name);
        var quantization = RecordedQuantization(stream);
        if (quantization is not null) Export.IntegerKernels.Require(quantization, Export.IntegerKernels.AddIn32Bits, name);
        ITransformer model;
        DataViewSchema inputSchema;
        try
        {
            model = ml.Model.Load(stream, out inputSchema);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"{name}: not a readable ML.NET model zip ({ErrorText.FirstLine(e.Message)})", e);
        }
        try
        {
            var imageFormat = CheckIsImageClassifier(name, model, ml);
            return new CifarModel(ml, model, inputSchema, imageFormat, quantization); // reads the class names, which may fail too
        }
        catch
        {
            (model as IDisposable)?.Dispose(); // e.g. an ONNX Runtime session
            throw;
        }
    }

    /// <summary>
    /// Refuses a stream that is not a zip archive before ML.NET reads it: ML.NET makes its temporary folder
    /// (<c>ml_dotnet_*</c>) first and leaves it behind when the archive then fails to open. A stream that cannot
    /// seek is left to ML.NET.
    /// </summary>
    private static void RequireZipArchive(Stream stream, string name)
    {
        if (!stream.CanSeek) return;
        long start = stream.Position;
        try
        {
            using var _ = new System.IO.Compression.ZipArchive(stream, System.IO.Compression.ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{name}: not a readable ML.NET model zip (not a zip archive: {ErrorText.FirstLine(e.Message)})", e);
        }
        finally
        {
            stream.Position = start;
        }
    }

    /// <summary>
    /// The quantization the zip's network graph records, read from a seekable stream (left where it was); null for a float32
    /// zip, a stream that cannot seek, or graphs that do not parse (ML.NET then says what is wrong).
    /// </summary>
    private static ModelQuantization? RecordedQuantization(Stream stream)
    {
        if (!stream.CanSeek) return null;
        long start = stream.Position;
        try
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return Export.ZipOnnxParts.Read(copy.ToArray(), "model").Select(Export.CifarQuantization.Recorded).LastOrDefault(q => q is not null);
        }
        catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException)
        {
            return null;
        }
        finally
        {
            stream.Position = start;
        }
    }

    /// <summary>Checks the model scores an image path into Score and PredictedLabel; returns the format of the pixels it reads, where declared.</summary>
    private static ImageFormat? CheckIsImageClassifier(string path, ITransformer model, MLContext ml)
    {
        DataViewSchema output;
        try
        {
            output = model.GetOutputSchema(ml.Data.LoadFromEnumerable(Array.Empty<ImageInput>()).Schema);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not a Cifar image classifier: it cannot take an ImagePath ({ErrorText.FirstLine(e.Message)})", e);
        }
        if (output.GetColumnOrNull(CifarColumns.Score) is not { Type: VectorDataViewType { ItemType: NumberDataViewType } }
            || output.GetColumnOrNull(CifarColumns.PredictedLabel) is not { Type: TextDataViewType })
            throw new InvalidDataException($"{path}: not a Cifar image classifier: it gives no Score vector and text PredictedLabel");
        // Pixels extracted interleaved, say, declare no [channels, height, width].
        return PixelsColumn(output) is { } pixels ? ImageFormat.Of(pixels.Type) : null;
    }

    /// <summary>
    /// The pixels a model's image steps extract, in a schema their output is part of: the first column of float vectors
    /// with three dimensions. The one rule for prediction (<see cref="ImageFormat"/>) and the ONNX export's input.
    /// </summary>
    internal static DataViewSchema.Column? PixelsColumn(DataViewSchema schema) =>
        schema.Cast<DataViewSchema.Column?>()
            .FirstOrDefault(c => c!.Value.Type is VectorDataViewType { Dimensions.Length: 3 } v && v.ItemType == NumberDataViewType.Single);

    /// <summary>Predicts the class of an image file.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    /// <exception cref="InvalidDataException">
    /// A folder, not an image that can be decoded, or its header declares more than <see cref="ImageFiles.MaxPixels"/>.
    /// </exception>
    /// <exception cref="CifarModelException">The model failed on this image (e.g. its scores are not probabilities).</exception>
    public ImagePrediction Predict(string imagePath)
    {
        ImageFiles.Check(imagePath);
        try
        {
            return _fromPath.Predict(new ImageInput { ImagePath = imagePath });
        }
        catch (Exception e) when (e is not (CifarModelException or OutOfMemoryException or ObjectDisposedException)
                                  && !CifarDataLoader.CanDecode(imagePath))
        {
            // Only when the file fails to decode on its own is the image to blame; anything else is the model's.
            throw new InvalidDataException($"{imagePath}: not an image that can be decoded ({ErrorText.FirstLine(e.GetBaseException().Message)})", e);
        }
    }

    /// <summary>
    /// The <paramref name="count"/> most probable classes of a prediction, most probable first, named
    /// by <see cref="ClassNames"/> (by index when the model was saved without class names).
    /// </summary>
    public IReadOnlyList<ClassProbability> TopClasses(ImagePrediction prediction, int count) =>
        prediction.Score
            .Select((probability, i) => new ClassProbability(
                i < ClassNames.Count ? ClassNames[i] : i.ToString(System.Globalization.CultureInfo.InvariantCulture), probability))
            .OrderByDescending(c => c.Probability)
            .Take(count)
            .ToArray();

    /// <summary>
    /// A prediction as the app reports it (<c>cifar predict</c> and <c>cifar serve</c> alike): the predicted class, its
    /// probability and the <paramref name="topCount"/> most probable classes.
    /// </summary>
    public ClassifiedImage Summarize(ImagePrediction prediction, int topCount = 3) =>
        new(prediction.PredictedLabel, prediction.Score.Length == 0 ? 0 : prediction.Score.Max(), TopClasses(prediction, topCount));

    /// <summary>Predicts the class of a decoded image.</summary>
    public ImagePrediction Predict(MLImage image)
    {
        return _fromImage.Predict(new InMemoryImageInput { Image = image });
    }

    /// <summary>Predicts the class of an encoded image (JPEG, PNG, BMP, …).</summary>
    /// <param name="encodedImage">The encoded image.</param>
    /// <param name="name">How messages name it (an upload's file name, say).</param>
    /// <exception cref="InvalidDataException">
    /// Not an image, its header declares more than <see cref="ImageFiles.MaxPixels"/>, or its data does not decode.
    /// </exception>
    public ImagePrediction Predict(byte[] encodedImage, string name = "the image") => Predict(new MemoryStream(encodedImage, writable: false), name);

    /// <summary>Predicts the class of an encoded image read from a seekable stream (uploaded bytes in pooled buffers, say).</summary>
    /// <param name="encodedImage">The encoded image, from its current position (seekable: the header is checked first).</param>
    /// <param name="name">How messages name it (an upload's file name, say).</param>
    /// <exception cref="InvalidDataException">
    /// Not an image, its header declares more than <see cref="ImageFiles.MaxPixels"/>, or its data does not decode.
    /// </exception>
    public ImagePrediction Predict(Stream encodedImage, string name = "the image")
    {
        ImageFiles.CheckEncoded(encodedImage, name);
        MLImage image;
        try
        {
            image = MLImage.CreateFromStream(new ImageFiles.Borrowed(encodedImage)); // the caller's stream stays open
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException)
        {
            // A header that reads well over data that does not decode (a truncated JPEG, say).
            throw new InvalidDataException($"{name}: not an image that can be decoded ({ErrorText.FirstLine(e.Message)})", e);
        }
        using (image) return Predict(image);
    }

    /// <summary>
    /// Scores a data view: by <c>ImagePath</c> when it has one, else from already decoded
    /// <c>Pixels</c> (as the binary-batch loader gives) with the model's image steps skipped. Image
    /// files are checked before decoding as the loading stage checks them: a missing or unreadable
    /// file, or one declaring more than <see cref="ImageFiles.MaxPixels"/>, stops the read with a
    /// <see cref="CifarDataException"/> naming it.
    /// </summary>
    public IDataView Transform(IDataView data)
    {
        if (data.Schema.GetColumnOrNull(CifarColumns.ImagePath) is { Type: TextDataViewType })
            return Transformer.Transform(CifarImageLoadingEstimator.CheckingFiles(_ml.Transforms, CifarColumns.ImagePath, CifarColumns.ImagePath).Fit(data).Transform(data));
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

    internal static IEnumerable<ITransformer> Flatten(ITransformer transformer) =>
        transformer is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : new[] { transformer };

    /// <summary>
    /// Waits for predictions in progress, disposes the engines and then the model (its ONNX Runtime sessions).
    /// Predictions started afterwards throw <see cref="ObjectDisposedException"/>.
    /// </summary>
    /// <remarks>
    /// Blocks the calling thread for a full, blocking garbage collection of the process and for the finalizers it
    /// finds (tens to hundreds of milliseconds in a large process) before it releases the sessions: ML.NET's ONNX
    /// transformer leaves its outputs to finalizers, and finalizing them after their session is gone is suspected of a
    /// rare native crash. The safety is kept here, so a plain Dispose is always safe; an app that must not block the
    /// thread that lets go of a model (a request thread) disposes it on a background thread, as <c>cifar serve</c> does
    /// with a model a reload replaced, and waits for that before it exits.
    /// </remarks>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _fromPath.Dispose();
        _fromImage.Dispose();
        // ML.NET's ONNX transformer caches each engine's outputs as OrtValues that only finalizers release, even once the
        // engines are disposed. Run those finalizers before the sessions go: OrtValues finalized after their session is
        // released are the suspect of a rare native crash.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        (Transformer as IDisposable)?.Dispose();
    }
}

/// <summary>One image's prediction as reported: see <see cref="CifarModel.Summarize"/>.</summary>
/// <param name="Label">The predicted class.</param>
/// <param name="Probability">Its probability, 0–1.</param>
/// <param name="Top">The most probable classes, most probable first.</param>
public sealed record ClassifiedImage(string Label, float Probability, IReadOnlyList<ClassProbability> Top);

/// <summary>A class and its predicted probability.</summary>
/// <param name="Label">The class name.</param>
/// <param name="Probability">Its probability, 0–1.</param>
public sealed record ClassProbability(string Label, float Probability);

/// <summary>
/// A loaded model that does not work as a Cifar classifier (e.g. its scores are not probabilities);
/// the message says how, on one line. The model is at fault, not the input.
/// </summary>
public sealed class CifarModelException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public CifarModelException(string message) : base(message) { }
}
