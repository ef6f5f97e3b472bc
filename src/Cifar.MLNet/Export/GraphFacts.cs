using System.Runtime.InteropServices;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Cifar.MLNet.Export;

/// <summary>Facts read off the zip's ONNX graphs for the exported model's metadata.</summary>
internal static class GraphFacts
{
    /// <summary>The dimensions of a graph input or output (−1 where symbolic).</summary>
    public static long[] Dims(ValueInfoProto info) =>
        info.Type.TensorType.Shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : -1).ToArray();

    /// <summary>
    /// The per-channel scale and offset of a normalization graph computing x · scale + offset with constant scale and
    /// offset, as <see cref="Stages.CifarNormalizationEstimator"/> writes it (scale = 1 / (255·std), offset = −mean / std);
    /// null when the graph is not of that form.
    /// </summary>
    public static ChannelAffine? Normalization(GraphProto graph, int channels)
    {
        if (Operand(graph, "Mul") is not { } scale || Operand(graph, "Add") is not { } offset || scale.Length != offset.Length
            || channels <= 0 || scale.Length % channels != 0) return null;
        int plane = scale.Length / channels;
        var affine = new ChannelAffine(new double[channels], new double[channels]);
        for (int i = 0; i < scale.Length; i++)
        {
            int c = i / plane, first = c * plane; // planar: one plane per channel
            // Each channel must have one scale and offset for a mean and std to describe it.
            if (scale[i] != scale[first] || offset[i] != offset[first]) return null;
            (affine.Scale[c], affine.Offset[c]) = (scale[i], offset[i]);
        }
        return affine;
    }

    /// <summary>How many test-time views the network graph averages (its <c>tta_weights</c> constant), 1 without any.</summary>
    public static int TestTimeViews(GraphProto network) =>
        network.Initializer.FirstOrDefault(t => t.Name == "tta_weights") is { Dims.Count: > 0 } weights ? (int)weights.Dims[0] : 1;

    /// <summary>Whether <paramref name="output"/> is a softmax, possibly reshaped: probabilities, not logits.</summary>
    public static bool IsSoftmax(GraphProto graph, string output)
    {
        var producers = graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        for (var name = output; producers.TryGetValue(name, out var node); name = node.Input[0])
        {
            if (node.OpType == "Softmax") return true;
            if (node.OpType is not ("Reshape" or "Identity" or "Flatten" or "Squeeze" or "Unsqueeze")) return false;
        }
        return false;
    }

    /// <summary>The float constant operand of the graph's one <paramref name="opType"/> node, or null.</summary>
    private static float[]? Operand(GraphProto graph, string opType)
    {
        var nodes = graph.Node.Where(n => n.OpType == opType).ToArray();
        if (nodes.Length != 1) return null;
        var constant = graph.Initializer.FirstOrDefault(t => nodes[0].Input.Contains(t.Name) && t.DataType == (int)DataType.Float);
        if (constant is null) return null;
        return constant.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(constant.RawData.Span).ToArray() : constant.FloatData.ToArray();
    }
}
