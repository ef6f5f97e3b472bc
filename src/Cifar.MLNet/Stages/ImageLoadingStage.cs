using Cifar.MLNet.Data;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace Cifar.MLNet.Stages;

/// <summary>
/// The loading stage: image file → pixels of an <see cref="ImageFormat"/> (default 32×32 RGB), channels first
/// (planar R, G, B, or one grey plane), 0–255 floats, with ImageAnalytics (LoadImages → ResizeImages
/// [→ ConvertToGrayscale] → ExtractPixels). A file of any size and any format ImageAnalytics reads is stretched to the
/// format's size; one whose header declares more than <see cref="ImageFiles.MaxPixels"/> is refused before decoding.
/// Data that already has the pixels column of that format (the binary batches) passes through unchanged; the saved
/// model always starts from the path.
/// </summary>
public sealed class CifarImageLoadingEstimator : IEstimator<CifarImageLoadingTransformer>
{
    private readonly TransformsCatalog _transforms;
    private readonly string _outputColumnName;
    private readonly string _inputColumnName;
    private readonly ImageFormat _format;

    /// <summary>Creates the stage.</summary>
    /// <param name="ml">The ML.NET context whose transforms the stage is made of.</param>
    /// <param name="outputColumnName">The pixels column to produce.</param>
    /// <param name="inputColumnName">The column with image file paths.</param>
    /// <param name="format">The images' size and colours; null = CIFAR-10's 32×32 RGB.</param>
    /// <exception cref="OptionsException">A side of <paramref name="format"/> is out of range.</exception>
    public CifarImageLoadingEstimator(MLContext ml, string outputColumnName = CifarColumns.Pixels, string inputColumnName = CifarColumns.ImagePath,
        ImageFormat? format = null)
        : this(ml.Transforms, outputColumnName, inputColumnName, format)
    {
    }

    /// <summary>The stage made of the transforms of <paramref name="transforms"/>, the caller's catalog.</summary>
    internal CifarImageLoadingEstimator(TransformsCatalog transforms, string outputColumnName, string inputColumnName, ImageFormat? format)
    {
        _transforms = transforms;
        _outputColumnName = outputColumnName;
        _inputColumnName = inputColumnName;
        _format = format ?? ImageFormat.Cifar;
        _format.Validate();
    }

    /// <summary>The images' size and colours.</summary>
    public ImageFormat Format => _format;

    /// <inheritdoc />
    public CifarImageLoadingTransformer Fit(IDataView input)
    {
        var paths = SchemaOnly.TextView(_inputColumnName);
        var fromPaths = FromPaths(_transforms, _outputColumnName, _inputColumnName, _format).Fit(paths);
        if (input.Schema.GetColumnOrNull(_inputColumnName) is { Type: TextDataViewType })
        {
            // The checked paths go to a column of their own, so that reading the path column (as the error
            // reporting does to find a bad file again) does not run the check.
            const string checkedPaths = "CheckedImagePath";
            var inMemory = CheckingFiles(_transforms, _inputColumnName, checkedPaths)
                .Append(FromPaths(_transforms, _outputColumnName, checkedPaths, _format))
                .Append(_transforms.DropColumns(checkedPaths))
                .Fit(paths);
            return new CifarImageLoadingTransformer(inMemory, fromPaths);
        }
        if (input.Schema.GetColumnOrNull(_outputColumnName) is { } pixels && ImageFormat.Of(pixels.Type) == _format)
            return new CifarImageLoadingTransformer(new TransformerChain<ITransformer>(), fromPaths);
        throw new ArgumentException(
            $"the loading stage needs a text column '{_inputColumnName}' (image paths) or a '{_outputColumnName}' column of {_format} pixels ({_format.Channels}x{_format.Height}x{_format.Width} floats)", nameof(input));
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        inputSchema.Any(c => c.Name == _inputColumnName)
            ? FromPaths(_transforms, _outputColumnName, _inputColumnName, _format).GetOutputSchema(inputSchema)
            : inputSchema;

    /// <summary>
    /// Checks each image file before ImageAnalytics decodes it (<see cref="ImageFiles.Check(string)"/>): a
    /// missing or unreadable file, or one whose header declares more than <see cref="ImageFiles.MaxPixels"/>,
    /// stops the read with a <see cref="CifarDataException"/> naming it. Never saved (it has no contract
    /// name): the saved model keeps the standard chain, and <see cref="Prediction.CifarModel"/> puts the
    /// check in front of it again when it reads paths.
    /// </summary>
    internal static IEstimator<ITransformer> CheckingFiles(TransformsCatalog transforms, string inputColumnName, string outputColumnName)
    {
        var inputSchema = SchemaDefinition.Create(typeof(PathRow));
        inputSchema[0].ColumnName = inputColumnName;
        var outputSchema = SchemaDefinition.Create(typeof(PathRow));
        outputSchema[0].ColumnName = outputColumnName;
        return transforms.CustomMapping<PathRow, PathRow>((input, output) =>
        {
            try
            {
                ImageFiles.Check(input.Path);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                throw new CifarDataException(e.Message);
            }
            output.Path = input.Path;
        }, contractName: null, inputSchema, outputSchema);
    }

    /// <summary>A row of the path column, whatever its name.</summary>
    internal sealed class PathRow
    {
        /// <summary>The image file's path.</summary>
        public string Path { get; set; } = "";
    }

    /// <summary>ImageAnalytics' chain from a path column to the pixels column.</summary>
    internal static IEstimator<ITransformer> FromPaths(TransformsCatalog transforms, string outputColumnName, string inputColumnName, ImageFormat format) =>
        transforms.LoadImages(CifarColumns.Image, imageFolder: null, inputColumnName)
            .Append(FromImages(transforms, outputColumnName, format));

    /// <summary>The chain's part after decoding: a decoded image column to the pixels column.</summary>
    internal static IEstimator<ITransformer> FromImages(TransformsCatalog transforms, string outputColumnName, ImageFormat format)
    {
        IEstimator<ITransformer> resize = transforms.ResizeImages(CifarColumns.Image, format.Width, format.Height, CifarColumns.Image,
            ImageResizingEstimator.ResizingKind.Fill);
        // A grey image has equal R, G and B: its red plane is the grey plane.
        if (format.Colors == ColorMode.Grayscale) resize = resize.Append(transforms.ConvertToGrayscale(CifarColumns.Image, CifarColumns.Image));
        return resize.Append(transforms.ExtractPixels(outputColumnName, CifarColumns.Image,
            colorsToExtract: format.Colors == ColorMode.Grayscale ? ImagePixelExtractingEstimator.ColorBits.Red : ImagePixelExtractingEstimator.ColorBits.Rgb,
            interleavePixelColors: false));
    }
}

/// <summary>The fitted loading stage (see <see cref="CifarImageLoadingEstimator"/>).</summary>
public sealed class CifarImageLoadingTransformer : DelegatingTransformer
{
    internal CifarImageLoadingTransformer(ITransformer inMemory, ITransformer savedForm)
        : base(inMemory, savedForm)
    {
    }
}
