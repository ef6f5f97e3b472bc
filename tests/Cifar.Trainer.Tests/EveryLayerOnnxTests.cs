using Cifar.Networks;
using Cifar.Trainer.Onnx;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Trainer.Tests;

public class EveryLayerOnnxTests
{
    private static readonly string[] Classes = Enumerable.Range(0, 10).Select(i => $"class{i}").ToArray();

    /// <summary>
    /// The every-layer network with batch-norm statistics and scales far from their initial 0 and 1 (a few
    /// training-mode passes over shifted, scaled images), in evaluation mode.
    /// </summary>
    internal static Sequential TrainedEveryLayerNetwork(int seed)
    {
        random.manual_seed(seed);
        var network = Architectures.Create(NetworkDefinitionTests.EveryLayer(), 10);
        using var _ = no_grad();
        network.train();
        for (int pass = 0; pass < 3; pass++)
        {
            using var scope = NewDisposeScope();
            network.forward(randn(8, 3, 32, 32) * 2 + 0.5);
        }
        foreach (var (name, parameter) in network.named_parameters())
            if (name.StartsWith("bn", StringComparison.Ordinal) || name.Contains(".bn", StringComparison.Ordinal))
                parameter.uniform_(0.5, 1.5);
        network.eval();
        return network;
    }

    [Fact]
    public void Every_layer_kind_exports_and_onnx_runtime_agrees_with_torchsharp_within_1e_4()
    {
        using var network = TrainedEveryLayerNetwork(seed: 3);
        var state = network.state_dict();
        Assert.True(state["bn1.running_mean"].abs().max().item<float>() > 0.05f, "running statistics stayed trivial");
        Assert.True(state["residual1.bn1.num_batches_tracked"].item<long>() == 3);

        var model = ModelProto.Parser.ParseFrom(
            NetworkOnnxExporter.Export(network, NetworkDefinitionTests.EveryLayer(), Classes, new ClassifierGraphNames("Features", "Score", "Label")));
        var ops = model.Graph.Node.Select(n => n.OpType).ToHashSet();
        Assert.Superset(new HashSet<string> { "Conv", "BatchNormalization", "Relu", "Erf", "MaxPool", "AveragePool", "Add", "GlobalAveragePool", "Gemm" }, ops);
        Assert.Subset(model.Graph.Initializer.Select(t => t.Name).ToHashSet(),
            new HashSet<string> { "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "residual1.conv1.weight", "residual1.bn1.running_var" });
        Assert.DoesNotContain(model.Graph.Initializer, t => t.Name == "residual1.conv1.bias");

        // The logits too, not only the softmax: probabilities near uniform would hide differences.
        var logitsName = model.Graph.Node.Single(n => n.OpType == "Softmax").Input[0];
        var logitsInfo = model.Graph.Output.Single(o => o.Name == "Score").Clone();
        logitsInfo.Name = logitsName;
        logitsInfo.Type.TensorType.Shape.Dim.Insert(0, new TensorShapeProto.Types.Dimension { DimValue = 1 });
        model.Graph.Output.Add(logitsInfo);

        using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model));
        random.manual_seed(4);
        for (int image = 0; image < 4; image++)
        {
            using var scope = NewDisposeScope();
            var pixels = (randn(1, 3, 32, 32) * 1.5).contiguous();
            float[] expectedLogits;
            using (no_grad()) expectedLogits = network.forward(pixels).data<float>().ToArray();
            var expectedScores = nn.functional.softmax(tensor(expectedLogits), 0).data<float>().ToArray();

            var input = pixels.data<float>().ToArray();
            using var inputValue = OrtValue.CreateTensorValueFromMemory(input, new long[] { input.Length });
            using var results = session.Run(new RunOptions(), new[] { "Features" }, new[] { inputValue }, new[] { "Score", logitsName });
            var scores = results[0].GetTensorDataAsSpan<float>().ToArray();
            var logits = results[1].GetTensorDataAsSpan<float>().ToArray();

            Assert.Equal(10, logits.Length);
            Assert.True(expectedLogits.Max() - expectedLogits.Min() > 0.01f, "logits too alike to compare");
            for (int c = 0; c < 10; c++)
            {
                Assert.True(Math.Abs(logits[c] - expectedLogits[c]) <= 1e-4, $"image {image}, logit {c}: {logits[c]} vs {expectedLogits[c]}");
                Assert.True(Math.Abs(scores[c] - expectedScores[c]) <= 1e-4, $"image {image}, score {c}: {scores[c]} vs {expectedScores[c]}");
            }
        }
    }

    [Fact]
    public void Exported_every_layer_graph_carries_each_state_tensor_under_its_state_dict_name()
    {
        using var network = TrainedEveryLayerNetwork(seed: 5);
        var model = ModelProto.Parser.ParseFrom(
            NetworkOnnxExporter.Export(network, NetworkDefinitionTests.EveryLayer(), Classes, new ClassifierGraphNames("Features", "Score", "Label")));
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name);
        foreach (var (name, value) in network.state_dict())
        {
            if (name.EndsWith(".num_batches_tracked", StringComparison.Ordinal)) continue;
            Assert.True(initializers.TryGetValue(name, out var exported), $"{name} not exported");
            Assert.Equal(value.shape, exported.Dims.ToArray());
            Assert.True(value.bytes.SequenceEqual(exported.RawData.Span), $"{name} differs");
        }
    }
}
