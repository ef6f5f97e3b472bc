using Google.Protobuf;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Cifar.Trainer.Onnx;

/// <summary>
/// A small helper for writing ONNX graphs node by node (over OnnxSharp's protobuf classes):
/// enough for feed-forward graphs with fixed shapes and constant initializers.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    /// <summary>The ONNX operator set the graphs use.</summary>
    public const long OpsetVersion = 13;

    private readonly GraphProto _graph;
    private int _nodeCount;

    /// <summary>Starts an empty graph named <paramref name="name"/>.</summary>
    public OnnxGraphBuilder(string name) => _graph = new GraphProto { Name = name };

    /// <summary>Declares a float graph input of a fixed shape.</summary>
    public string FloatInput(string name, params long[] dims)
    {
        _graph.Input.Add(ValueInfo(name, DataType.Float, dims));
        return name;
    }

    /// <summary>Declares a graph output of a fixed shape.</summary>
    public void Output(string name, DataType type, params long[] dims) => _graph.Output.Add(ValueInfo(name, type, dims));

    /// <summary>Adds a float constant.</summary>
    public string Constant(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Adds an int64 constant.</summary>
    public string Constant(string name, long[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(values);
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Adds a 1-D string constant.</summary>
    public string Constant(string name, IReadOnlyList<string> values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.String };
        t.Dims.Add(values.Count);
        foreach (var v in values) t.StringData.Add(ByteString.CopyFromUtf8(v));
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Adds a node and returns the name of its (single) output.</summary>
    public string Node(string opType, string[] inputs, string? output = null, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = $"{opType}_{_nodeCount++}" };
        node.Input.AddRange(inputs);
        node.Output.Add(output ?? node.Name + "_out");
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return node.Output[0];
    }

    /// <summary>An integer attribute.</summary>
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A float attribute.</summary>
    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>A string attribute.</summary>
    public static AttributeProto Text(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(value) };

    /// <summary>An integer-list attribute.</summary>
    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>The serialized ONNX model.</summary>
    public byte[] ToModelBytes(string producer)
    {
        var model = new ModelProto { IrVersion = 7, ProducerName = producer, Graph = _graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OpsetVersion });
        return model.ToByteArray();
    }

    private static ValueInfoProto ValueInfo(string name, DataType type, long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
