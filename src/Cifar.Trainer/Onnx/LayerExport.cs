using Cifar.Networks;
using Onnx;
using static TorchSharp.torch;

namespace Cifar.Trainer.Onnx;

/// <summary>
/// One layer's share of an exported graph: its input, the graph it adds nodes to, and the helpers layer kinds write
/// their ONNX form with. Weights and constants are named after the layer's path (<c>conv1.weight</c>, <c>residual1.bn1.bias</c>).
/// </summary>
internal sealed class LayerExport
{
    private readonly OnnxGraphBuilder _graph;
    private readonly BuiltLayer _layer;

    private LayerExport(OnnxGraphBuilder graph, BuiltLayer layer, string input)
    {
        _graph = graph;
        _layer = layer;
        Input = input;
    }

    /// <summary>Adds <paramref name="layers"/> in order from <paramref name="input"/>; returns the last one's output.</summary>
    public static string Layers(OnnxGraphBuilder graph, IEnumerable<BuiltLayer> layers, string input) =>
        layers.Aggregate(input, (x, layer) => layer.Layer.Kind.Export(layer, new LayerExport(graph, layer, x)));

    /// <summary>The name of the layer's input.</summary>
    public string Input { get; }

    /// <summary>The layer's full name, the prefix of its weights' names.</summary>
    public string Path => _layer.Layer.Path;

    /// <summary>Adds a node; returns the name of its output.</summary>
    public string Node(string opType, string[] inputs, params AttributeProto[] attributes) => _graph.Node(opType, inputs, attributes: attributes);

    /// <summary>The layer's body (a residual's) added from <see cref="Input"/>; returns its output.</summary>
    public string Body() => Layers(_graph, _layer.Body, Input);

    /// <summary>
    /// A weight as an initializer named <see cref="Path"/> + <paramref name="suffix"/> (the state dict's name), copied from
    /// any device; denormal values are written as zero.
    /// </summary>
    public string Weights(string suffix, Tensor parameter)
    {
        using var onCpu = parameter.detach().cpu().contiguous();
        var values = onCpu.data<float>().ToArray();
        // ONNX Runtime computes with denormals unless told otherwise, which ML.NET cannot: on Intel processors
        // every denormal weight would cost a slow microcode path at every prediction. Values below 1.2e-38
        // change no score, so they are written as zero (a network trained with denormals flushed has none).
        for (int i = 0; i < values.Length; i++)
            if (float.IsSubnormal(values[i])) values[i] = 0f;
        return _graph.Constant(Path + suffix, values, onCpu.shape);
    }

    /// <summary>A float scalar constant named <see cref="Path"/>:<paramref name="what"/>.</summary>
    public string Scalar(string what, float value) => _graph.Constant($"{Path}:{what}", new[] { value });

    /// <summary>A vector of <paramref name="count"/> copies of <paramref name="value"/>, named <see cref="Path"/>:<paramref name="what"/>.</summary>
    public string Filled(string what, float value, long count)
    {
        var values = new float[count];
        Array.Fill(values, value);
        return _graph.Constant($"{Path}:{what}", values, count);
    }

    /// <summary>A 2-D convolution with the layer's <c>weight</c> [O, C, kH, kW] and optional <c>bias</c>.</summary>
    public string Conv(Tensor weight, Tensor? bias, long[] strides, long[] pads, long[] dilations, long groups)
    {
        var inputs = new List<string> { Input, Weights(".weight", weight) };
        if (bias is not null) inputs.Add(Weights(".bias", bias));
        return Node("Conv", inputs.ToArray(),
            OnnxGraphBuilder.Ints("kernel_shape", weight.shape[2], weight.shape[3]),
            OnnxGraphBuilder.Ints("strides", strides),
            OnnxGraphBuilder.Ints("pads", pads),
            OnnxGraphBuilder.Ints("dilations", dilations),
            OnnxGraphBuilder.Int("group", groups));
    }

    /// <summary>ONNX's begin-and-end pads of TorchSharp's per-dimension 2-D padding.</summary>
    public static long[] Pads(long[]? padding) =>
        padding is { Length: 2 } p ? new[] { p[0], p[1], p[0], p[1] } : new long[] { 0, 0, 0, 0 };
}
