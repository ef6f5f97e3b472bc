using TorchSharp.Modules;
using static Cifar.Trainer.Onnx.OnnxGraphBuilder;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Cifar.Trainer.Onnx;

/// <summary>The names and shapes of an exported classifier graph.</summary>
/// <param name="InputName">Input: one normalized image, channels first, flattened to [C·H·W] floats.</param>
/// <param name="ScoreName">Output: [classCount] softmax probabilities.</param>
/// <param name="LabelName">Output: [1] string, the most probable class's name.</param>
public sealed record ClassifierGraphNames(string InputName, string ScoreName, string LabelName);

/// <summary>
/// Exports a trained <see cref="Sequential"/> of Conv2d, ReLU, MaxPool2d, Flatten and Linear layers
/// as an ONNX classifier for one image: reshape → the layers → softmax, plus an argmax lookup of
/// the class name. Shapes carry no batch dimension, so ML.NET's OnnxTransformer sees plain vectors.
/// </summary>
public static class NetworkOnnxExporter
{
    /// <summary>Exports <paramref name="network"/>; its weights are copied (it may live on any device).</summary>
    /// <exception cref="NotSupportedException">The network has a layer type the exporter does not know.</exception>
    public static byte[] Export(Sequential network, IReadOnlyList<string> classNames, ClassifierGraphNames names,
        int channels = 3, int height = 32, int width = 32)
    {
        var g = new OnnxGraphBuilder("cifar_classifier");
        var x = g.FloatInput(names.InputName, channels * height * width);
        x = g.Node("Reshape", new[] { x, g.Constant("image_shape", new long[] { 1, channels, height, width }, 4) });

        foreach (var (layerName, layer) in network.named_children())
            x = AddLayer(g, layerName, layer, x);

        var probabilities = g.Node("Softmax", new[] { x }, attributes: Int("axis", 1));
        g.Node("Reshape", new[] { probabilities, g.Constant("score_shape", new long[] { classNames.Count }, 1) }, names.ScoreName);
        var best = g.Node("ArgMax", new[] { probabilities }, attributes: new[] { Int("axis", 1), Int("keepdims", 0) });
        g.Node("Gather", new[] { g.Constant("class_names", classNames), best }, names.LabelName);

        g.Output(names.ScoreName, DataType.Float, classNames.Count);
        g.Output(names.LabelName, DataType.String, 1);
        return g.ToModelBytes("Cifar.Trainer");
    }

    private static string AddLayer(OnnxGraphBuilder g, string name, TorchSharp.torch.nn.Module layer, string x) => layer switch
    {
        Conv2d conv => g.Node("Conv",
            new[] { x, Weights(g, name + ".weight", conv.weight!), Weights(g, name + ".bias", conv.bias!) },
            attributes: new[]
            {
                Ints("kernel_shape", conv.kernel_size),
                Ints("strides", conv.stride),
                Ints("pads", Pads(conv.padding)),
                Ints("dilations", conv.dilation),
                Int("group", conv.groups),
            }),
        ReLU => g.Node("Relu", new[] { x }),
        MaxPool2d pool => g.Node("MaxPool", new[] { x }, attributes: new[]
        {
            Ints("kernel_shape", pool.kernel_size),
            Ints("strides", pool.stride ?? pool.kernel_size),
            Ints("pads", Pads(pool.padding)),
        }),
        Flatten => g.Node("Flatten", new[] { x }, attributes: Int("axis", 1)),
        Linear linear => g.Node("Gemm",
            new[] { x, Weights(g, name + ".weight", linear.weight!), Weights(g, name + ".bias", linear.bias!) },
            attributes: Int("transB", 1)),
        _ => throw new NotSupportedException($"ONNX export does not know layer '{name}' ({layer.GetType().Name})"),
    };

    private static long[] Pads(long[]? padding) =>
        padding is { Length: 2 } p ? new[] { p[0], p[1], p[0], p[1] } : new long[] { 0, 0, 0, 0 };

    private static string Weights(OnnxGraphBuilder g, string name, TorchSharp.torch.Tensor parameter)
    {
        using var onCpu = parameter.detach().cpu().contiguous();
        var values = onCpu.data<float>().ToArray();
        // ONNX Runtime computes with denormals unless told otherwise, which ML.NET cannot: on Intel processors
        // every denormal weight would cost a slow microcode path at every prediction. Values below 1.2e-38
        // change no score, so they are written as zero (a network trained with denormals flushed has none).
        for (int i = 0; i < values.Length; i++)
            if (float.IsSubnormal(values[i])) values[i] = 0f;
        return g.Constant(name, values, onCpu.shape);
    }
}
