using Cifar.Networks;
using TorchSharp;
using static TorchSharp.torch;
using D = Cifar.Networks;

namespace Cifar.Trainer.Tests;

public class NetworkDefinitionTests
{
    /// <summary>A small network with one layer of every kind (residual bodies included).</summary>
    internal static NetworkDefinition EveryLayer(double dropout = 0.25) => new("EveryLayer",
    [
        new D.Conv2d(8, KernelSize: 3, Padding: 1),
        new D.BatchNorm2d(),
        new D.Relu(),
        new D.MaxPool2d(2),
        new D.Residual([new D.Conv2d(8, 3, Padding: 1, Bias: false), new D.BatchNorm2d(Momentum: 0.3), new D.Gelu()]),
        new D.AvgPool2d(2),
        new D.Conv2d(12, KernelSize: 3, Stride: 2),
        new D.Gelu(),
        new D.Dropout(dropout),
        new D.GlobalAvgPool(),
        new D.Linear(16),
        new D.Relu(),
        new D.Dropout(dropout),
        new D.Linear(),
    ]);

    /// <summary>The SeedCnn exactly as it was written by hand before it became a definition.</summary>
    private static TorchSharp.Modules.Sequential HandWrittenSeedCnn(int classCount) => nn.Sequential(
        ("conv1", nn.Conv2d(3, 64, kernel_size: 5, padding: 2)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(kernel_size: 2)),
        ("conv2", nn.Conv2d(64, 128, kernel_size: 3, padding: 1)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(kernel_size: 2)),
        ("conv3", nn.Conv2d(128, 256, kernel_size: 3, padding: 1)),
        ("relu3", nn.ReLU()),
        ("pool3", nn.MaxPool2d(kernel_size: 2)),
        ("conv4", nn.Conv2d(256, 128, kernel_size: 3, padding: 1)),
        ("relu4", nn.ReLU()),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(128 * 4 * 4, classCount)));

    [Fact]
    public void SeedCnn_definition_gives_the_hand_written_networks_initial_weights_bit_for_bit()
    {
        random.manual_seed(1);
        using var handWritten = HandWrittenSeedCnn(10);
        random.manual_seed(1);
        using var built = Architectures.Create(SeedCnn.Name, 10);

        var expected = handWritten.state_dict();
        var actual = built.state_dict();
        Assert.Equal(expected.Keys, actual.Keys);
        Assert.Equal(
            new[] { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias", "conv4.weight", "conv4.bias", "fc.weight", "fc.bias" },
            actual.Keys);
        foreach (var key in expected.Keys)
            Assert.True(expected[key].bytes.SequenceEqual(actual[key].bytes), $"{key} differs");
        // The layers in order; convolutions and max-pools are the library's own modules (TorchSharp's initialisation, and
        // the CPU kernels the library picks).
        Assert.Equal(handWritten.named_children().Select(c => (c.name, c.module switch
            {
                TorchSharp.Modules.Conv2d => typeof(Conv2dModule),
                TorchSharp.Modules.MaxPool2d => typeof(MaxPool2dModule),
                var other => other.GetType(),
            })),
            built.named_children().Select(c => (c.name, c.module.GetType())));
    }

    [Fact]
    public void Architectures_look_up_built_in_definitions_by_name_case_insensitively()
    {
        Assert.Same(SeedCnn.Definition, Architectures.Definition("seedCNN"));
        Assert.Equal(new[] { "SeedCnn", "AirbenchNet" }, Architectures.Names);
        Assert.Same(AirbenchNet.Definition, Architectures.Definition("airbenchnet"));
        Assert.False(Architectures.IsKnown(null));
        var error = Assert.Throws<ArgumentException>(() => Architectures.Definition("LeNet"));
        Assert.Contains("LeNet", error.Message);
    }

    [Fact]
    public void Json_round_trips_every_layer_kind_and_reads_Type_anywhere()
    {
        var definition = EveryLayer() with { Layers = [.. EveryLayer().Layers, new D.Flatten { Name = "last" }] };
        var json = definition.ToJson();
        Assert.Contains("\"Type\":\"Residual\"", json);
        Assert.Contains("\"Type\":\"GlobalAvgPool\"", json);
        Assert.Contains("\"Name\":\"last\"", json);
        var read = NetworkDefinition.FromJson(json);
        Assert.Equal(definition, read);
        Assert.Equal(json, read.ToJson());
        Assert.NotEqual(definition, EveryLayer(dropout: 0.5));

        var handWritten = NetworkDefinition.FromJson("""
            { "Name": "Tiny", "Layers": [
                { "OutChannels": 4, "KernelSize": 3, "Type": "Conv2d" },
                { "Type": "GlobalAvgPool" },
                { "Type": "Linear", "Name": "head" } ] }
            """);
        Assert.Equal(new NetworkDefinition("Tiny", [new D.Conv2d(4, 3), new D.GlobalAvgPool(), new D.Linear { Name = "head" }]), handWritten);
        Assert.Equal(SeedCnn.Definition, NetworkDefinition.FromJson(SeedCnn.Definition.ToJson(indented: true)));
    }

    [Fact]
    public void Unknown_layer_types_in_json_are_refused_on_one_line()
    {
        var error = Assert.Throws<NetworkDefinitionException>(() =>
            NetworkDefinition.FromJson("""{ "Name": "x", "Layers": [ { "Type": "Conv3d" } ] }"""));
        Assert.StartsWith("unreadable network definition (", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    private sealed record MyLayer : Layer;

    [Theory]
    [InlineData("kernel", "network 'Bad', layer 3 'conv3' (Conv2d): kernel 5×5 is larger than its input [4,2,2]")]
    [InlineData("linear", "network 'Bad', layer 2 'fc1' (Linear): needs a flat input but gets [4,30,30] (put Flatten or GlobalAvgPool before it)")]
    [InlineData("residual", "network 'Bad', layer 2 'residual1' (Residual): the body turns [4,30,30] into [6,30,30]; it must give back the shape it was given")]
    [InlineData("dropout", "network 'Bad', layer 3 'dropout1' (Dropout): Probability must be in [0, 1) (got 1)")]
    [InlineData("width", "network 'Bad' ends in [7]; it must end in [10], one score per class")]
    [InlineData("rank", "network 'Bad' ends in [4,30,30]; it must end in [10], one score per class (end with Flatten or GlobalAvgPool, then Linear)")]
    [InlineData("empty", "network 'Bad' has no layers")]
    [InlineData("unsupported", "network 'Bad', layer 3 'MyLayer' (MyLayer) is not supported (supported: Conv2d, BatchNorm2d, Relu, Gelu, MaxPool2d, AvgPool2d, GlobalAvgPool, Dropout, Flatten, Linear, Residual, PatchWhitening, Scale)")]
    [InlineData("inner", "network 'Bad', layer 2 'block' (Residual), layer 2 'pool' (MaxPool2d): kernel 40×40 is larger than its input [4,30,30]")]
    [InlineData("duplicate", "network 'Bad', layer 2 'a' (Relu): the name is used by an earlier layer of the same list")]
    [InlineData("dot", "network 'Bad', layer 1 'a.b' (Conv2d): a name must be non-empty, without '.' or spaces")]
    public void Check_names_the_wrong_layer_on_one_line(string problem, string message)
    {
        Layer[] layers = problem switch
        {
            "kernel" => [new D.Conv2d(4, 3, Stride: 16), new D.Conv2d(4, 3, Padding: 1), new D.Conv2d(4, 5), new D.Flatten(), new D.Linear()],
            "linear" => [new D.Conv2d(4, 3), new D.Linear()],
            "residual" => [new D.Conv2d(4, 3), new D.Residual([new D.Conv2d(6, 3, Padding: 1)]), new D.GlobalAvgPool(), new D.Linear()],
            "dropout" => [new D.Conv2d(4, 3), new D.Flatten(), new D.Dropout(1.0), new D.Linear()],
            "width" => [new D.Conv2d(4, 3), new D.Flatten(), new D.Linear(7)],
            "rank" => [new D.Conv2d(4, 3)],
            "empty" => [],
            "unsupported" => [new D.Conv2d(4, 3), new D.Relu(), new MyLayer { Name = "MyLayer" }, new D.Flatten(), new D.Linear()],
            "inner" => [new D.Conv2d(4, 3), new D.Residual([new D.Relu(), new D.MaxPool2d(40) { Name = "pool" }]) { Name = "block" }],
            "duplicate" => [new D.Conv2d(4, 3) { Name = "a" }, new D.Relu { Name = "a" }],
            "dot" => [new D.Conv2d(4, 3) { Name = "a.b" }],
            _ => throw new ArgumentOutOfRangeException(nameof(problem)),
        };
        var definition = new NetworkDefinition("Bad", layers);
        var error = Assert.Throws<NetworkDefinitionException>(() => definition.Check(10));
        Assert.Equal(message, error.Message);
        // The builder checks first: nothing is built from a wrong definition.
        Assert.Equal(message, Assert.Throws<NetworkDefinitionException>(() => Architectures.Create(definition, 10)).Message);
    }

    [Fact]
    public void Default_names_count_per_kind_skip_given_names_and_scope_residual_bodies()
    {
        var definition = new NetworkDefinition("Named",
        [
            new D.Conv2d(4, 3, Padding: 1),
            new D.BatchNorm2d(),
            new D.Conv2d(4, 3, Padding: 1) { Name = "conv2" },
            new D.Conv2d(4, 3, Padding: 1),
            new D.Residual([new D.Conv2d(4, 3, Padding: 1), new D.BatchNorm2d()]),
            new D.GlobalAvgPool(),
            new D.Linear(),
        ]);
        using var network = Architectures.Create(definition, 10);
        Assert.Equal(new[] { "conv1", "bn1", "conv2", "conv3", "residual1", "globalpool1", "fc1" },
            network.named_children().Select(c => c.name));
        Assert.Equal(new[]
        {
            "conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
            "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias",
            "residual1.conv1.weight", "residual1.conv1.bias", "residual1.bn1.weight", "residual1.bn1.bias",
            "residual1.bn1.running_mean", "residual1.bn1.running_var", "residual1.bn1.num_batches_tracked",
            "fc1.weight", "fc1.bias",
        }.Order(), network.state_dict().Keys.Order());
    }

    [Fact]
    public void Every_layer_kind_builds_with_inferred_sizes_and_maps_images_to_class_scores()
    {
        using var network = Architectures.Create(EveryLayer(), 10);
        var shapes = network.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal(new long[] { 8, 3, 3, 3 }, shapes["conv1.weight"]);
        Assert.Equal(new long[] { 8, 8, 3, 3 }, shapes["residual1.conv1.weight"]);
        Assert.False(shapes.ContainsKey("residual1.conv1.bias"));
        Assert.Equal(new long[] { 12, 8, 3, 3 }, shapes["conv2.weight"]);
        Assert.Equal(new long[] { 16, 12 }, shapes["fc1.weight"]);
        Assert.Equal(new long[] { 10, 16 }, shapes["fc2.weight"]);
        using var images = randn(2, 3, 32, 32);
        using var logits = network.forward(images);
        Assert.Equal(new long[] { 2, 10 }, logits.shape);
    }

    [Fact]
    public void Residual_adds_its_body_to_its_input_and_passes_train_and_eval_on()
    {
        var definition = new NetworkDefinition("Skip",
        [
            new D.Residual([new D.Conv2d(3, 3, Padding: 1), new D.BatchNorm2d()]),
            new D.GlobalAvgPool(),
            new D.Linear(),
        ]);
        using var network = Architectures.Create(definition, 3);
        var residual = network.named_children().First().module;
        var body = residual.named_children().Select(c => c.module).ToArray();
        network.eval();
        Assert.All(body, m => Assert.False(m.training));
        network.train();
        Assert.All(body, m => Assert.True(m.training));
        network.eval();

        using var x = randn(2, 3, 32, 32);
        using var _ = no_grad();
        using var expected = x + ((nn.Module<Tensor, Tensor>)body[1]).forward(((nn.Module<Tensor, Tensor>)body[0]).forward(x));
        using var actual = ((nn.Module<Tensor, Tensor>)residual).forward(x);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 0));
    }
}
