using System.Text.Json.Serialization;
using Cifar.Networks;
using Cifar.Trainer.Onnx;
using Cifar.Trainer.Training;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;
using static Cifar.Trainer.Tests.TestRuns;
using D = Cifar.Networks;

namespace Cifar.Trainer.Tests;

public class LayerKindTests
{
    /// <summary>One layer of every kind a network definition may hold in JSON.</summary>
    private static readonly Layer[] OneOfEach =
    [
        new D.Conv2d(8, 3, Stride: 2, Padding: 1, Bias: false, IdentityInit: true), new D.BatchNorm2d(0.3, 1e-4, TrainScale: false),
        new D.Relu(), new D.Gelu(), new D.MaxPool2d(3, 1), new D.AvgPool2d(2), new D.GlobalAvgPool(), new D.Dropout(0.1),
        new D.Flatten(), new D.Linear(7, Bias: false), new D.Residual([new D.Relu { Name = "inner" }]),
        new D.PatchWhitening(3, 1e-3, 100, 2), new D.Scale(0.25),
    ];

    [Fact]
    public void Every_json_layer_kind_has_a_kind_and_every_layer_record_of_the_library_is_a_json_kind()
    {
        var json = typeof(Layer).GetCustomAttributes(typeof(JsonDerivedTypeAttribute), false).Cast<JsonDerivedTypeAttribute>().ToList();
        Assert.Equal(json.Select(a => a.DerivedType), LayerKinds.BuiltIn);
        Assert.All(json, a => Assert.Equal(a.DerivedType.Name, a.TypeDiscriminator)); // "Type": "Conv2d", as configs write it
        Assert.All(LayerKinds.BuiltIn, t => Assert.NotNull(LayerKinds.Of(t)));
        var records = typeof(Layer).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(Layer)) && !t.IsAbstract);
        Assert.Equal(records.OrderBy(t => t.Name), LayerKinds.BuiltIn.OrderBy(t => t.Name));
        Assert.Equal(LayerKinds.BuiltIn.Select(t => t.Name), NetworkDefinition.SupportedLayerTypes);
        var prefixes = LayerKinds.BuiltIn.Select(t => LayerKinds.Of(t)!.NamePrefix).ToList();
        Assert.Equal(prefixes.Count, prefixes.Distinct().Count());
        Assert.Null(LayerKinds.Of(typeof(Layer)));
    }

    [Fact]
    public void One_layer_of_each_kind_round_trips_through_json_under_its_type_name()
    {
        Assert.Equal(LayerKinds.BuiltIn, OneOfEach.Select(l => l.GetType()));
        var definition = new NetworkDefinition("OneOfEach", OneOfEach);
        var json = definition.ToJson();
        foreach (var kind in LayerKinds.BuiltIn) Assert.Contains($"{{\"Type\":\"{kind.Name}\"", json);
        var read = NetworkDefinition.FromJson(json);
        Assert.Equal(definition, read);
        Assert.Equal(OneOfEach.Select(l => l.GetType()), read.Layers.Select(l => l.GetType()));
        Assert.Equal(json, read.ToJson());
    }

    [Fact]
    public void Default_names_come_from_each_kinds_prefix()
    {
        var layers = NetworkShapes.Resolve(new NetworkDefinition("Prefixes",
            [new D.PatchWhitening(), new D.Conv2d(4, 3), new D.BatchNorm2d(), new D.Gelu(), new Softplus(), new D.GlobalAvgPool(), new D.Linear(), new D.Scale(2)]), 10);
        Assert.Equal(new[] { "whiten1", "conv1", "bn1", "gelu1", "softplus1", "globalpool1", "fc1", "scale1" }, layers.Select(l => l.Name));
    }

    private static readonly NetworkDefinition WithSoftplus = new("Soft",
        [new D.Conv2d(4, 3, Padding: 1), new Softplus(), new D.BatchNorm2d(), new Softplus { Name = "act" }, new D.GlobalAvgPool(), new D.Linear()]);

    [Fact]
    public void A_kind_defined_in_one_file_outside_the_library_builds_trains_and_exports_and_onnx_runtime_agrees()
    {
        using var train = RandomSet(32, seed: 3);
        using var trained = CnnTrainer.Train(train, null, 3,
            Run(new TrainingOptions { Epochs = 1, BatchSize = 8, Device = ComputeDevice.Cpu }) with { Model = new ModelOptions { Network = WithSoftplus } });
        Assert.Equal(["conv1", "softplus1", "bn1", "act", "globalpool1", "fc1"], trained.Network.named_children().Select(c => c.name));
        Assert.IsType<TorchSharp.Modules.Softplus>(trained.Network.named_children().ElementAt(1).module);

        var bytes = NetworkOnnxExporter.Export(trained.Network, trained.Definition, ["a", "b", "c"], new ClassifierGraphNames("Features", "Score", "Label"));
        Assert.Equal(2, global::Onnx.ModelProto.Parser.ParseFrom(bytes).Graph.Node.Count(n => n.OpType == "Softplus"));
        using var session = new InferenceSession(bytes);
        using var scope = NewDisposeScope();
        random.manual_seed(11);
        var image = (randn(1, 3, 32, 32) * 2).contiguous();
        float[] expected;
        using (no_grad()) expected = nn.functional.softmax(trained.Network.forward(image), 1).data<float>().ToArray();
        var input = image.data<float>().ToArray();
        using var inputValue = OrtValue.CreateTensorValueFromMemory(input, [input.Length]);
        using var results = session.Run(new RunOptions(), ["Features"], [inputValue], ["Score"]);
        var scores = results[0].GetTensorDataAsSpan<float>().ToArray();
        for (int c = 0; c < 3; c++) Assert.True(Math.Abs(scores[c] - expected[c]) <= 1e-5, $"score {c}: {scores[c]} vs {expected[c]}");
    }

    private const string Refusal =
        "network 'Soft', layer 4 'act' (Softplus): the ONNX export cannot express it: Beta must be 1, as ONNX's Softplus has no beta (got 2)";

    [Fact]
    public void A_network_the_export_cannot_express_is_refused_on_one_line_before_the_first_step()
    {
        var definition = WithSoftplus with { Layers = [.. WithSoftplus.Layers.Select(l => l.Name == "act" ? new Softplus(Beta: 2) { Name = "act" } : l)] };
        Assert.Equal(Refusal, Assert.Throws<NetworkDefinitionException>(() => definition.Check(3)).Message);

        var run = Run(new TrainingOptions { Epochs = 1, BatchSize = 8, Device = ComputeDevice.Cpu }) with { Model = new ModelOptions { Network = definition } };
        Assert.Equal(Refusal, Assert.Throws<NetworkDefinitionException>(() => CnnTrainer.CheckModel(run, 3)).Message);
        using var train = RandomSet(16, seed: 4);
        int batches = 0;
        var error = Assert.Throws<NetworkDefinitionException>(() =>
            CnnTrainer.Train(train, null, 3, run, callbacks: new TrainingCallbacks { BatchCompleted = _ => batches++ }));
        Assert.Equal(Refusal, error.Message);
        Assert.Equal(0, batches);
    }

    [Fact]
    public void A_network_whose_layers_are_not_its_definitions_is_not_exported()
    {
        using var network = Architectures.Create(WithSoftplus, 3);
        var other = WithSoftplus with { Layers = [.. WithSoftplus.Layers.Select(l => l.Name == "act" ? new D.Relu { Name = "relu" } : l)] };
        var error = Assert.Throws<ArgumentException>(() =>
            NetworkOnnxExporter.Export(network, other, ["a", "b", "c"], new ClassifierGraphNames("x", "y", "z")));
        Assert.Equal("the network has no layer 'relu' of its definition", error.Message);
    }

    [Fact]
    public void A_layer_of_another_kind_under_the_definitions_name_is_refused_not_cast()
    {
        using var network = Architectures.Create(WithSoftplus, 3);
        var other = WithSoftplus with { Layers = [.. WithSoftplus.Layers.Select(l => l.Name == "act" ? new D.Relu { Name = "act" } : l)] };
        var error = Assert.Throws<ArgumentException>(() =>
            NetworkOnnxExporter.Export(network, other, ["a", "b", "c"], new ClassifierGraphNames("x", "y", "z")));
        Assert.StartsWith("the network's layer 'act' is a ", error.Message);
        Assert.EndsWith(", where its definition builds a ReLU", error.Message);
    }
}
