using Google.Protobuf;
using Onnx;
using static Cifar.Trainer.Onnx.OnnxGraphBuilder;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Cifar.MLNet.Export;

/// <summary>
/// The exported model around the one-image graph: a Scan runs it on each image of the batch (the zip's graphs
/// are built for one image: test-time views are a batch of their own), then ArgMax and the class names give the labels.
/// </summary>
internal static class BatchedGraph
{
    public static ModelProto Build(GraphProto image, long[] imageDims, IReadOnlyList<string> classNames, IReadOnlyList<ModelProto> parts,
        IReadOnlyDictionary<string, string> metadata)
    {
        var graph = new GraphProto { Name = "cifar_classifier" };
        graph.Input.Add(Tensor(CifarOnnxExport.InputName, DataType.Float, [Batch, .. imageDims.Select(Fixed)],
            $"{metadata["layout"]} {metadata["channel_order"]} pixels, {metadata["pixel_range"]}, {metadata["resize"]}"));
        var scan = new NodeProto { OpType = "Scan", Name = "each_image" };
        scan.Input.Add(CifarOnnxExport.InputName);
        scan.Output.Add(CifarOnnxExport.ProbabilitiesName);
        scan.Attribute.Add(new AttributeProto { Name = "body", Type = AttributeProto.Types.AttributeType.Graph, G = image });
        scan.Attribute.Add(Int("num_scan_inputs", 1));
        graph.Node.Add(scan);

        var names = new TensorProto { Name = "class_names", DataType = (int)DataType.String };
        names.Dims.Add(classNames.Count);
        names.StringData.AddRange(classNames.Select(ByteString.CopyFromUtf8));
        graph.Initializer.Add(names);
        graph.Node.Add(Node("ArgMax", "best", [CifarOnnxExport.ProbabilitiesName], Int("axis", 1), Int("keepdims", 0)));
        graph.Node.Add(Node("Gather", CifarOnnxExport.LabelName, ["class_names", "best"]));

        graph.Output.Add(Tensor(CifarOnnxExport.ProbabilitiesName, DataType.Float, [Batch, Fixed(classNames.Count)],
            "softmax probabilities, one row per image, in the order of the 'classes' metadata"));
        graph.Output.Add(Tensor(CifarOnnxExport.LabelName, DataType.String, [Batch], "each image's most probable class"));
        return Model(graph, parts, metadata);
    }

    private static ModelProto Model(GraphProto graph, IReadOnlyList<ModelProto> parts, IReadOnlyDictionary<string, string> metadata)
    {
        var model = new ModelProto
        {
            IrVersion = parts.Max(p => p.IrVersion),
            ProducerName = "Cifar.MLNet",
            ProducerVersion = typeof(BatchedGraph).Assembly.GetName().Version?.ToString() ?? "",
            DocString = "A Cifar image classifier exported from its ML.NET model zip; the metadata says how to prepare the input.",
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OnnxGraphCombiner.OperatorSet(parts, "the model") });
        foreach (var (key, value) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    private static readonly TensorShapeProto.Types.Dimension Batch = new() { DimParam = "N" };

    private static TensorShapeProto.Types.Dimension Fixed(long size) => new() { DimValue = size };

    private static NodeProto Node(string opType, string output, string[] inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static ValueInfoProto Tensor(string name, DataType type, TensorShapeProto.Types.Dimension[] dims, string doc)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims.Select(d => d.Clone()));
        return new ValueInfoProto
        {
            Name = name,
            DocString = doc,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
