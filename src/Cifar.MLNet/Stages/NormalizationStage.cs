using Cifar.MLNet.Data;
using Cifar.Trainer.Onnx;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Stages;

/// <summary>
/// The normalization stage: pixels (0–255, channels first, [C, H, W] of any <see cref="ImageFormat"/>) to features
/// (x / 255 − mean[c]) / std[c] per channel c, of the same shape: torchvision's ToTensor + Normalize. The tutorial's
/// mean = std = 0.5 maps pixels to [−1, 1]; for grey images one value (or three equal ones) serves. The features column carries the mean and std and the pixels
/// column's name as annotations: the estimator trains on the pixels as bytes, augmented in pixel space.
/// </summary>
public sealed class CifarNormalizationEstimator : IEstimator<CifarNormalizationTransformer>
{
    private readonly TransformsCatalog _transforms;
    private readonly string? _tempFolder;
    private readonly PixelNormalization _normalization;
    private readonly string _outputColumnName;
    private readonly string _inputColumnName;

    /// <summary>Creates the stage.</summary>
    /// <param name="ml">
    /// The ML.NET context whose transforms the stage is made of; the graph of the stage's saved form is a file in its
    /// <see cref="MLContext.TempFilePath"/> until the fitted stage is disposed. Its ONNX session options are kept alive
    /// (<see cref="CifarCatalog.KeepOnnxSessionOptionsAlive"/>).
    /// </param>
    /// <param name="normalization">Per-channel mean and std; null = the tutorial's 0.5 / 0.5.</param>
    /// <param name="outputColumnName">The features column to produce.</param>
    /// <param name="inputColumnName">The pixels column.</param>
    /// <exception cref="OptionsException">Mean or std is not 3 (or 1) finite numbers, or a std is not positive.</exception>
    public CifarNormalizationEstimator(MLContext ml, PixelNormalization? normalization = null,
        string outputColumnName = CifarColumns.Features, string inputColumnName = CifarColumns.Pixels)
        : this(OnnxSessionOptionsKeeper.Keep(ml).Transforms, ml.TempFilePath, normalization, outputColumnName, inputColumnName)
    {
    }

    /// <summary>
    /// The stage made of the transforms of <paramref name="transforms"/>, the caller's catalog; its graph file goes to
    /// <paramref name="tempFolder"/> (null: the system's temporary folder).
    /// </summary>
    internal CifarNormalizationEstimator(TransformsCatalog transforms, string? tempFolder, PixelNormalization? normalization,
        string outputColumnName, string inputColumnName)
    {
        _transforms = transforms;
        _tempFolder = tempFolder;
        _normalization = normalization ?? PixelNormalization.Tutorial;
        _normalization.Validate();
        _outputColumnName = outputColumnName;
        _inputColumnName = inputColumnName;
    }

    /// <inheritdoc />
    public CifarNormalizationTransformer Fit(IDataView input)
    {
        var pixels = input.Schema.GetColumnOrNull(_inputColumnName)
            ?? throw new ArgumentException($"the normalization stage needs a '{_inputColumnName}' column", nameof(input));
        var format = ImageFormat.Of(pixels.Type)
            ?? throw new ArgumentException(
                $"column '{_inputColumnName}' is {pixels.Type}; the normalization stage needs channels x height x width floats with 1 or 3 channels (the loading stage's pixels)", nameof(input));
        var normalization = _normalization.ForChannels(format.Channels);
        var coefficients = Coefficients.Of(normalization, format);
        var inMemory = Mapping(pixels.Type, format, normalization, coefficients).Fit(input);
        var onnx = OnnxGraph(pixels.Type, format, coefficients);
        var graph = new OnnxGraphFile(_tempFolder, onnx);
        try
        {
            var savedForm = _transforms.ApplyOnnxModel(_outputColumnName, _inputColumnName, graph.Path)
                .Fit(SchemaOnly.View(_inputColumnName, pixels.Type));
            return new CifarNormalizationTransformer(inMemory, savedForm, normalization, graph);
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        // A schema shape has no vector sizes: CIFAR's stands for any.
        var format = ImageFormat.Cifar;
        var normalization = _normalization.ForChannels(format.Channels);
        return Mapping(format.PixelsType, format, normalization, Coefficients.Of(normalization, format)).GetOutputSchema(inputSchema);
    }

    private IEstimator<ITransformer> Mapping(DataViewType pixelsType, ImageFormat format, PixelNormalization normalization, Coefficients c)
    {
        var input = SchemaOnly.VectorDefinition(_inputColumnName, pixelsType);
        var output = SchemaOnly.VectorDefinition(_outputColumnName, format.PixelsType);
        CifarAnnotations.Add(output[0], CifarAnnotations.Normalization, normalization);
        CifarAnnotations.AddText(output[0], CifarAnnotations.PixelsColumn, _inputColumnName);
        return _transforms.CustomMapping<SchemaOnly.VectorRow, SchemaOnly.VectorRow>(
            (src, dst) => dst.Values = c.Apply(src.Values), contractName: null, input, output);
    }

    private byte[] OnnxGraph(DataViewType pixelsType, ImageFormat format, Coefficients c)
    {
        var g = new OnnxGraphBuilder("cifar_normalization");
        var dims = ((VectorDataViewType)pixelsType).Dimensions.Select(d => (long)d).ToArray();
        var x = g.FloatInput(_inputColumnName, dims);
        x = g.Node("Reshape", new[] { x, g.Constant("flat", new long[] { format.Size }, 1) });
        x = g.Node("Mul", new[] { x, g.Constant("scale", c.Scale, format.Size) });
        x = g.Node("Add", new[] { x, g.Constant("offset", c.Offset, format.Size) });
        g.Node("Reshape", new[] { x, g.Constant("image_shape", format.Shape.Select(d => (long)d).ToArray(), 3) }, _outputColumnName);
        g.Output(_outputColumnName, global::Onnx.TensorProto.Types.DataType.Float, format.Shape.Select(d => (long)d).ToArray());
        return g.ToModelBytes("Cifar.MLNet");
    }

    /// <summary>(x / 255 − mean) / std as x · scale + offset, per value; shared by both forms so they agree.</summary>
    internal sealed record Coefficients(float[] Scale, float[] Offset)
    {
        public static Coefficients Of(PixelNormalization n, ImageFormat format)
        {
            var (channelScale, channelOffset) = n.ScaleAndOffset();
            var scale = new float[format.Size];
            var offset = new float[format.Size];
            int plane = format.Height * format.Width;
            for (int ch = 0; ch < format.Channels; ch++)
            {
                Array.Fill(scale, channelScale[ch], ch * plane, plane);
                Array.Fill(offset, channelOffset[ch], ch * plane, plane);
            }
            return new Coefficients(scale, offset);
        }

        public float[] Apply(float[] pixels)
        {
            var features = new float[pixels.Length];
            for (int i = 0; i < features.Length; i++) features[i] = pixels[i] * Scale[i] + Offset[i];
            return features;
        }
    }
}

/// <summary>
/// The fitted normalization stage (see <see cref="CifarNormalizationEstimator"/>). Dispose it (or the
/// chain holding it) when done: its saved form is an ONNX graph, which ML.NET keeps as a temporary
/// file until then.
/// </summary>
public sealed class CifarNormalizationTransformer : DelegatingTransformer, IDisposable
{
    private readonly OnnxGraphFile _graph;

    internal CifarNormalizationTransformer(ITransformer inMemory, ITransformer savedForm, PixelNormalization normalization, OnnxGraphFile graph)
        : base(inMemory, savedForm)
    {
        Normalization = normalization;
        _graph = graph;
    }

    /// <summary>The mean and std applied.</summary>
    public PixelNormalization Normalization { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        DisposeForms();
        _graph.Dispose(); // after the ONNX transformer that reads it
    }
}
