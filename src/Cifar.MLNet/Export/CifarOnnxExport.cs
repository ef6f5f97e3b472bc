using System.Globalization;
using System.Text.Json;
using Cifar.MLNet.Data;
using Cifar.MLNet.Prediction;
using Google.Protobuf;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Cifar.MLNet.Export;

/// <summary>
/// Writes a Cifar model zip as one standalone ONNX model that ONNX Runtime (in any language) scores without ML.NET:
/// the zip's normalization graph and network graph (with its test-time views) joined into one graph, run per image
/// over a batch, with the class names and the input's preparation in the model's metadata (<c>metadata_props</c>).
/// Input <see cref="InputName"/>: float32 [N, C, H, W] pixels, 0–255, the image stretched to the zip's width and height
/// (32×32 for CIFAR-10) as its ImageAnalytics steps do: R, G and B planes, or for a grey model (C = 1) one grey plane
/// computed as ML.NET's ConvertToGrayscale does (the <c>grey_weights</c> metadata). Whatever the zip's ExtractPixels then
/// does to the values (its scaleImage and offsetImage, for a plain ML.NET featurization) is inside the graph. Outputs <see cref="ProbabilitiesName"/>: float32
/// [N, classes], the zip's <c>Score</c>; <see cref="LabelName"/>: string [N], the most probable class.
/// </summary>
public static class CifarOnnxExport
{
    /// <summary>The input: a batch of images' pixels.</summary>
    public const string InputName = "pixels";

    /// <summary>The output of class probabilities (softmax), in the order of the <c>classes</c> metadata.</summary>
    public const string ProbabilitiesName = "probabilities";

    /// <summary>The output of each image's most probable class name.</summary>
    public const string LabelName = "label";

    /// <summary>The metadata keys the exported model carries, each with a text value (JSON arrays where a list).</summary>
    public static IReadOnlyList<string> MetadataKeys { get; } =
        ["classes", "input", "layout", "channel_order", "grey", "grey_weights", "pixel_range", "resize", "normalization", "mean", "std", "test_time_views"];

    /// <summary>Reads the model zip <paramref name="modelPath"/> and writes its ONNX form to <paramref name="onnxPath"/>, atomically.</summary>
    /// <param name="modelPath">The model zip.</param>
    /// <param name="onnxPath">The ONNX file to write (replaced when it exists).</param>
    /// <param name="ml">The context to load the zip in (its temporary folder holds the zip's graphs meanwhile); null for a new one.</param>
    /// <returns>What was written.</returns>
    /// <exception cref="FileNotFoundException">There is no model file.</exception>
    /// <exception cref="UnauthorizedAccessException">The model may not be read, or the ONNX file not written.</exception>
    /// <exception cref="InvalidDataException">
    /// The model is not a Cifar model zip, its image steps give values the export cannot describe, or its ONNX graphs cannot be joined.
    /// </exception>
    /// <exception cref="DirectoryNotFoundException">The ONNX file's folder does not exist.</exception>
    /// <exception cref="IOException">The ONNX path is a folder or the model itself, or the file cannot be written.</exception>
    public static OnnxExportSummary Write(string modelPath, string onnxPath, Microsoft.ML.MLContext? ml = null)
    {
        OutputPath.Check(modelPath, onnxPath, "the ONNX file path", "the ONNX file", "the ONNX file");
        ImageFiles.RequireReadableFile(modelPath, "model file");
        var (onnx, summary) = Export(File.ReadAllBytes(modelPath), modelPath, ml);
        AtomicFile.WriteBytes(onnxPath, onnx);
        return summary with { Path = Path.GetFullPath(onnxPath) };
    }

    /// <summary>The ONNX model of the zip <paramref name="zip"/> (<paramref name="name"/> names it in messages), and what it holds.</summary>
    /// <param name="zip">The model zip's bytes.</param>
    /// <param name="name">How messages name the zip (its path, say).</param>
    /// <param name="ml">The context to load the zip in; null for a new one.</param>
    /// <exception cref="InvalidDataException">
    /// Not a Cifar model zip, its image steps give values the export cannot describe, or its ONNX graphs cannot be joined.
    /// </exception>
    public static (byte[] Onnx, OnnxExportSummary Summary) Export(byte[] zip, string name, Microsoft.ML.MLContext? ml = null)
    {
        IReadOnlyList<string> classNames;
        ImageInputContract input;
        // Loading it is what tells a Cifar classifier from any zip; its image steps say what the graph's input is.
        ml ??= new Microsoft.ML.MLContext();
        using (var model = CifarModel.Load(new MemoryStream(zip, writable: false), name, ml))
        {
            classNames = model.ClassNames;
            input = ImageInputContract.Of(ml, CifarModel.Flatten(model.Transformer), name);
        }
        var zipParts = OnnxGraphCombiner.Chain(ZipOnnxParts.Read(zip, name), input.PixelsColumn, CifarColumns.Score, name);
        if (!GraphFacts.IsSoftmax(zipParts[^1].Graph, CifarColumns.Score))
            throw new InvalidDataException($"{name}: not a Cifar model zip: its '{CifarColumns.Score}' is not a softmax");
        // The zip's graphs take the extracted values; the exported one takes the bytes, so the extraction's map goes first.
        IReadOnlyList<ModelProto> chain = input.Extraction.IsIdentity
            ? zipParts
            : [input.Extraction.Graph(input.Dims, OnnxGraphCombiner.OperatorSet(zipParts, name)), .. zipParts];
        var image = OnnxGraphCombiner.Combine(chain, CifarColumns.Score, "image", "image_probabilities");
        long[] imageDims = GraphFacts.Dims(image.Input[0]);
        classNames = ClassNames(classNames, zipParts[^1].Graph, GraphFacts.Dims(image.Output[0]), name);
        var metadata = Metadata(zipParts, input, imageDims, classNames);
        var onnx = BatchedGraph.Build(image, imageDims, classNames, chain, metadata);
        long[] inputShape = [-1, .. imageDims];
        return (onnx.ToByteArray(), new OnnxExportSummary("", inputShape, classNames, GraphFacts.TestTimeViews(zipParts[^1].Graph), metadata));
    }

    /// <summary>The zip's class names (from its label column), else the network's own; as many as it scores.</summary>
    private static IReadOnlyList<string> ClassNames(IReadOnlyList<string> fromSchema, GraphProto network, long[] scoreDims, string name)
    {
        if (scoreDims is not [> 0 and var count])
            throw new InvalidDataException($"{name}: not a Cifar model zip: its '{CifarColumns.Score}' is [{string.Join(",", scoreDims)}], not one vector of class probabilities");
        if (fromSchema.Count == count) return fromSchema;
        var fromGraph = network.Initializer.FirstOrDefault(t => t.DataType == (int)DataType.String && t.StringData.Count == count);
        return fromGraph is not null
            ? fromGraph.StringData.Select(s => s.ToStringUtf8()).ToArray()
            : Enumerable.Range(0, (int)count).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>The metadata; <paramref name="zipParts"/> are the zip's graphs (a normalization graph, when more than one, then the network).</summary>
    private static Dictionary<string, string> Metadata(IReadOnlyList<ModelProto> zipParts, ImageInputContract input, long[] imageDims,
        IReadOnlyList<string> classNames)
    {
        int channels = (int)imageDims[0];
        // The pixel extraction's map, then the normalization graph's (none without one): what the graph does to the bytes.
        var normalizing = zipParts.Count > 1 ? GraphFacts.Normalization(zipParts[0].Graph, channels) : ChannelAffine.Identity(channels);
        var affine = normalizing is null ? null : input.Extraction.Affine.Then(normalizing);
        (double[] Mean, double[] Std)? normalization = affine is null || affine.IsIdentity ? null : affine.MeanAndStd();
        string Json<T>(T value) => JsonSerializer.Serialize(value);
        return new Dictionary<string, string>
        {
            ["classes"] = Json(classNames),
            ["input"] = $"{InputName}: float32 [N,{string.Join(",", imageDims)}], N images",
            ["layout"] = ImageInputContract.Layout,
            ["channel_order"] = input.ChannelOrder,
            ["grey"] = input.Grey,
            ["grey_weights"] = Json(input.GreyWeights),
            ["pixel_range"] = ImageInputContract.PixelRange,
            ["resize"] = input.Resize,
            ["normalization"] = normalization is not null
                ? "(pixel / 255 - mean[c]) / std[c] per channel c, inside the graph: feed the pixels as they are"
                : affine is null ? "inside the graph, not per channel" : "none: the network takes the pixels as they are",
            ["mean"] = Json(normalization?.Mean),
            ["std"] = Json(normalization?.Std),
            ["test_time_views"] = GraphFacts.TestTimeViews(zipParts[^1].Graph).ToString(CultureInfo.InvariantCulture),
        };
    }
}

/// <summary>What <see cref="CifarOnnxExport"/> wrote.</summary>
/// <param name="Path">The ONNX file (full path; empty from <see cref="CifarOnnxExport.Export"/>).</param>
/// <param name="InputShape">The input's shape, −1 for the batch: [−1, C, H, W], [−1, 3, 32, 32] for a CIFAR-10 zip.</param>
/// <param name="ClassNames">The classes, in the order of the probabilities.</param>
/// <param name="TestTimeViews">How many views of each image the network averages (1 without test-time augmentation).</param>
/// <param name="Metadata">The model's <c>metadata_props</c> (<see cref="CifarOnnxExport.MetadataKeys"/>).</param>
public sealed record OnnxExportSummary(string Path, IReadOnlyList<long> InputShape, IReadOnlyList<string> ClassNames, int TestTimeViews,
    IReadOnlyDictionary<string, string> Metadata);
