using Cifar.Networks;
using Cifar.Trainer.Training;
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
/// Exports a trained <see cref="Sequential"/> built from a <see cref="NetworkDefinition"/> as an ONNX classifier for one
/// image: reshape → the layers, each in its kind's ONNX form (<see cref="LayerKind.Export"/>) → softmax, plus an argmax
/// lookup of the class name.
/// Initializers carry the state dict's names (<c>conv1.weight</c>, <c>bn1.running_mean</c> …). Shapes carry no batch dimension, so ML.NET's OnnxTransformer sees plain vectors.
/// </summary>
internal static class NetworkOnnxExporter
{
    /// <summary>
    /// Exports <paramref name="network"/>; its weights are copied (it may live on any device). With test-time
    /// augmentation the graph scores the views of <see cref="TestTimeViews"/> as one batch and averages their logits.
    /// </summary>
    /// <param name="network">The trained network.</param>
    /// <param name="definition">The definition <paramref name="network"/> was built from.</param>
    /// <param name="classNames">The class names, in score order.</param>
    /// <param name="names">The graph's input and output names.</param>
    /// <param name="testTime">The test-time views scored.</param>
    /// <param name="channels">The image's channels.</param>
    /// <param name="height">The image's height.</param>
    /// <param name="width">The image's width.</param>
    /// <param name="inputDims">The input's declared dimensions (C·H·W values in all); null: flat, [C·H·W].</param>
    /// <exception cref="ArgumentException">The network's layers are not those of <paramref name="definition"/>.</exception>
    public static byte[] Export(Sequential network, NetworkDefinition definition, IReadOnlyList<string> classNames, ClassifierGraphNames names,
        TestTimeAugmentation testTime = TestTimeAugmentation.None, int channels = 3, int height = 32, int width = 32, long[]? inputDims = null)
    {
        var layers = NetworkBuilder.Layers(network, definition, classNames.Count, [channels, height, width]);
        var g = new OnnxGraphBuilder("cifar_classifier");
        var x = g.FloatInput(names.InputName, inputDims ?? new long[] { channels * height * width });
        x = g.Node("Reshape", new[] { x, g.Constant("image_shape", new long[] { 1, channels, height, width }, 4) });
        x = TestTimeBatch(g, x, testTime, height, width);

        x = LayerExport.Layers(g, layers, x);
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
}
