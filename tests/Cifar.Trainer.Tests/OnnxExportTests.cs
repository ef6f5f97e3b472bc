using Cifar.Networks;
using Cifar.Trainer.Onnx;
using Onnx;

namespace Cifar.Trainer.Tests;

public class OnnxExportTests
{
    private static readonly string[] Classes = Enumerable.Range(0, 10).Select(i => $"class{i}").ToArray();

    [Fact]
    public void SeedCnn_exports_as_one_onnx_node_per_layer_with_all_weights()
    {
        using var network = Architectures.Create(SeedCnn.Name, 10);
        var bytes = NetworkOnnxExporter.Export(network, SeedCnn.Definition, Classes, new ClassifierGraphNames("Features", "Score", "Label"));
        var model = ModelProto.Parser.ParseFrom(bytes);
        var ops = model.Graph.Node.Select(n => n.OpType).ToArray();
        Assert.Equal(new[]
        {
            "Reshape", "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool",
            "Conv", "Relu", "Flatten", "Gemm", "Softmax", "Reshape", "ArgMax", "Gather",
        }, ops);
        long weights = model.Graph.Initializer.Where(t => t.DataType == (int)TensorProto.Types.DataType.Float)
            .Sum(t => t.Dims.Aggregate(1L, (a, d) => a * d));
        Assert.Equal(SeedCnn.ParameterCount10Classes, weights);
        Assert.Equal(new[] { "Features" }, model.Graph.Input.Select(i => i.Name));
        Assert.Equal(new[] { "Score", "Label" }, model.Graph.Output.Select(o => o.Name));
        var names = model.Graph.Initializer.Single(t => t.Name == "class_names").StringData.Select(s => s.ToStringUtf8());
        Assert.Equal(Classes, names);
    }
}
