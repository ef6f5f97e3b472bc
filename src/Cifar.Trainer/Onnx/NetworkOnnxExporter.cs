using Cifar.Trainer.Training;
using Cifar.Trainer.Networks;
using TorchSharp.Modules;
using static Cifar.Trainer.Onnx.OnnxGraphBuilder;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Cifar.Trainer.Onnx;

/// <summary>The names and shapes of an exported classifier graph.</summary>
/// <param name="InputName">Input: one normalized image, channels first, flattened to [C·H·W] floats.</param>
/// <param name="ScoreName">Output: [classCount] softmax probabilities.</param>
/// <param name="LabelName">Output: [1] string, the most probable class's name.</param>
internal sealed record ClassifierGraphNames(string InputName, string ScoreName, string LabelName);

/// <summary>
/// Exports a trained <see cref="Sequential"/> (of the layers <see cref="Architectures"/> builds) as an ONNX
/// classifier for one image: reshape → the layers → softmax, plus an argmax lookup of the class name.
/// Initializers carry the state dict's names (<c>conv1.weight</c>, <c>bn1.running_mean</c> …). Shapes carry no batch dimension, so ML.NET's OnnxTransformer sees plain vectors.
/// </summary>
internal static class NetworkOnnxExporter
{
    /// <summary>
    /// Exports <paramref name="network"/>; its weights are copied (it may live on any device). With test-time
    /// augmentation the graph scores the views of <see cref="TestTimeViews"/> as one batch and averages their logits.
    /// </summary>
    /// <param name="network">The trained network.</param>
    /// <param name="classNames">The class names, in score order.</param>
    /// <param name="names">The graph's input and output names.</param>
    /// <param name="testTime">The test-time views scored.</param>
    /// <param name="channels">The image's channels.</param>
    /// <param name="height">The image's height.</param>
    /// <param name="width">The image's width.</param>
    /// <param name="inputDims">The input's declared dimensions (C·H·W values in all); null: flat, [C·H·W].</param>
    /// <exception cref="NotSupportedException">The network has a layer type the exporter does not know.</exception>
    public static byte[] Export(Sequential network, IReadOnlyList<string> classNames, ClassifierGraphNames names,
        TestTimeAugmentation testTime = TestTimeAugmentation.None, int channels = 3, int height = 32, int width = 32, long[]? inputDims = null)
    {
        var g = new OnnxGraphBuilder("cifar_classifier");
        var x = g.FloatInput(names.InputName, inputDims ?? new long[] { channels * height * width });
        x = g.Node("Reshape", new[] { x, g.Constant("image_shape", new long[] { 1, channels, height, width }, 4) });
        x = TestTimeBatch(g, x, testTime, height, width);

        foreach (var (layerName, layer) in network.named_children())
            x = AddLayer(g, layerName, layer, x);
        if (testTime != TestTimeAugmentation.None)
        {
            // Weighted sum of the views' logits [V, K] → [1, K].
            var weights = TestTimeViews.Weights(testTime);
            var weighted = g.Node("Mul", new[] { x, g.Constant("tta_weights", weights, weights.Length, 1) });
            x = g.Node("ReduceSum", new[] { weighted, g.Constant("tta_axes", new long[] { 0 }, 1) }, attributes: Int("keepdims", 1));
        }

        var probabilities = g.Node("Softmax", new[] { x }, attributes: Int("axis", 1));
        g.Node("Reshape", new[] { probabilities, g.Constant("score_shape", new long[] { classNames.Count }, 1) }, names.ScoreName);
        var best = g.Node("ArgMax", new[] { probabilities }, attributes: new[] { Int("axis", 1), Int("keepdims", 0) });
        g.Node("Gather", new[] { g.Constant("class_names", classNames), best }, names.LabelName);

        g.Output(names.ScoreName, DataType.Float, classNames.Count);
        g.Output(names.LabelName, DataType.String, 1);
        return g.ToModelBytes("Cifar.Trainer");
    }

    /// <summary>The image [1, C, H, W] as the batch of its test-time views, in <see cref="TestTimeViews"/>' order.</summary>
    private static string TestTimeBatch(OnnxGraphBuilder g, string x, TestTimeAugmentation testTime, int height, int width)
    {
        if (testTime == TestTimeAugmentation.None) return x;
        // Opset 13 has no Flip: a Slice over the width with step −1.
        string[] flip =
        [
            g.Constant("flip_starts", new long[] { -1 }, 1), g.Constant("flip_ends", new long[] { long.MinValue }, 1),
            g.Constant("flip_axes", new long[] { 3 }, 1), g.Constant("flip_steps", new long[] { -1 }, 1),
        ];
        string Mirror(string image) => g.Node("Slice", [image, .. flip]);
        var views = new List<string> { x, Mirror(x) };
        if (testTime == TestTimeAugmentation.MirrorTranslate)
        {
            var padded = g.Node("Pad", new[] { x, g.Constant("tta_pads", new long[] { 0, 0, 1, 1, 0, 0, 1, 1 }, 8) },
                attributes: Text("mode", "reflect"));
            string Window(string name, long offset) => g.Node("Slice", new[]
            {
                padded, g.Constant(name + "_starts", new[] { offset, offset }, 2),
                g.Constant(name + "_ends", new[] { offset + height, offset + width }, 2), g.Constant(name + "_axes", new long[] { 2, 3 }, 2),
            });
            var upLeft = Window("up_left", 0);
            var downRight = Window("down_right", 2);
            views.AddRange([upLeft, Mirror(upLeft), downRight, Mirror(downRight)]);
        }
        return g.Node("Concat", views.ToArray(), attributes: Int("axis", 0));
    }

    private static string AddLayer(OnnxGraphBuilder g, string name, TorchSharp.torch.nn.Module layer, string x)
    {
        switch (layer)
        {
            case Conv2d conv:
                return Conv(g, name, x, conv.weight!, conv.bias, conv.stride, Pads(conv.padding), conv.dilation, conv.groups);
            case PatchWhiteningModule whitening:
                return Conv(g, name, x, whitening.Weight, whitening.Bias, [1, 1], [0, 0, 0, 0], [1, 1], 1);
            case ScaleModule scaling:
                return g.Node("Mul", new[] { x, Scalar(g, name + ":factor", (float)scaling.Factor) });
            case BatchNorm2d norm:
                // Evaluation form: the running statistics, under the state dict's names.
                return g.Node("BatchNormalization", new[]
                {
                    x,
                    norm.weight is { } scale ? Weights(g, name + ".weight", scale) : Filled(g, name + ":scale", 1f, norm.num_features),
                    norm.bias is { } shift ? Weights(g, name + ".bias", shift) : Filled(g, name + ":shift", 0f, norm.num_features),
                    Weights(g, name + ".running_mean", norm.running_mean!),
                    Weights(g, name + ".running_var", norm.running_var!),
                }, attributes: Float("epsilon", (float)norm.eps));
            case ReLU:
                return g.Node("Relu", new[] { x });
            case GELU gelu when gelu.approximate == GELU.Approximate.none:
                // Gelu is an operator only from opset 20: the exact form, 0.5·x·(1 + erf(x/√2)).
                var erf = g.Node("Erf", new[] { g.Node("Div", new[] { x, Scalar(g, name + ":sqrt2", MathF.Sqrt(2f)) }) });
                var onePlus = g.Node("Add", new[] { erf, Scalar(g, name + ":one", 1f) });
                return g.Node("Mul", new[] { g.Node("Mul", new[] { x, onePlus }), Scalar(g, name + ":half", 0.5f) });
            case MaxPool2d pool:
                return g.Node("MaxPool", new[] { x }, attributes: new[]
                {
                    Ints("kernel_shape", pool.kernel_size),
                    Ints("strides", pool.stride ?? pool.kernel_size),
                    Ints("pads", Pads(pool.padding)),
                });
            case AvgPool2d pool when pool.divisor_override is null && !pool.ceil_mode:
                return g.Node("AveragePool", new[] { x }, attributes: new[]
                {
                    Ints("kernel_shape", pool.kernel_size),
                    Ints("strides", pool.stride ?? pool.kernel_size),
                    Ints("pads", Pads(pool.padding)),
                    Int("count_include_pad", pool.count_include_pad ? 1 : 0),
                });
            case GlobalAvgPoolModule:
                return g.Node("Flatten", new[] { g.Node("GlobalAveragePool", new[] { x }) }, attributes: Int("axis", 1));
            case Dropout:
                return x; // identity in evaluation
            case ResidualModule residual:
                var y = x;
                foreach (var (innerName, inner) in residual.Body)
                    y = AddLayer(g, name + "." + innerName, inner, y);
                return g.Node("Add", new[] { x, y });
            case Flatten:
                return g.Node("Flatten", new[] { x }, attributes: Int("axis", 1));
            case Linear linear:
                var linearInputs = new List<string> { x, Weights(g, name + ".weight", linear.weight!) };
                if (linear.bias is { } linearBias) linearInputs.Add(Weights(g, name + ".bias", linearBias));
                return g.Node("Gemm", linearInputs.ToArray(), attributes: Int("transB", 1));
            default:
                throw new NotSupportedException($"ONNX export does not know layer '{name}' ({layer.GetType().Name})");
        }
    }

    private static string Conv(OnnxGraphBuilder g, string name, string x, TorchSharp.torch.Tensor weight, TorchSharp.torch.Tensor? bias,
        long[] strides, long[] pads, long[] dilations, long groups)
    {
        var inputs = new List<string> { x, Weights(g, name + ".weight", weight) };
        if (bias is not null) inputs.Add(Weights(g, name + ".bias", bias));
        return g.Node("Conv", inputs.ToArray(), attributes: new[]
        {
            Ints("kernel_shape", weight.shape[2], weight.shape[3]),
            Ints("strides", strides),
            Ints("pads", pads),
            Ints("dilations", dilations),
            Int("group", groups),
        });
    }

    private static string Scalar(OnnxGraphBuilder g, string name, float value) => g.Constant(name, new[] { value });

    private static string Filled(OnnxGraphBuilder g, string name, float value, long count)
    {
        var values = new float[count];
        Array.Fill(values, value);
        return g.Constant(name, values, count);
    }

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
