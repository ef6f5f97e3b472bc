using System.IO.Compression;
using Cifar.Networks;
using Cifar.Trainer.Onnx;
using Cifar.Trainer.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;
using D = Cifar.Networks;

namespace Cifar.Trainer.Tests;

public sealed class InitialWeightsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cifar-initial-weights-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Classes = Enumerable.Range(0, 10).Select(i => $"class{i}").ToArray();

    /// <summary>A model zip laid out as ML.NET writes one: graphs in entries named OnnxModel, each a 32-bit length then the bytes.</summary>
    private string ModelZip(Sequential network, NetworkDefinition definition)
    {
        var path = Path.Combine(_dir, "model.zip");
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        var normalization = new OnnxGraphBuilder("cifar_normalization");
        var x = normalization.FloatInput("Pixels", 3072);
        normalization.Node("Mul", new[] { x, normalization.Constant("scale", new float[] { 2f }) }, "Features");
        normalization.Output("Features", global::Onnx.TensorProto.Types.DataType.Float, 3072);
        AddOnnxEntry(zip, "TransformerChain/Transform_001/OnnxModel", normalization.ToModelBytes("test"));
        AddOnnxEntry(zip, "TransformerChain/Transform_003/Transform_000/OnnxModel",
            NetworkOnnxExporter.Export(network, definition, Classes, new ClassifierGraphNames("Features", "Score", "Label")));
        zip.CreateEntry("TransformerChain/Model.key").Open().Dispose();
        return path;
    }

    private static void AddOnnxEntry(ZipArchive zip, string name, byte[] model)
    {
        using var writer = new BinaryWriter(zip.CreateEntry(name).Open());
        writer.Write(model.Length);
        writer.Write(model);
    }

    private string CheckpointFile(Sequential network)
    {
        var path = Path.Combine(_dir, "checkpoint.bin");
        using var optimizer = Optimizers.Create(network, new TrainingOptions(), totalSteps: 1);
        using var shuffle = new Generator(1);
        using var augment = new Generator(2);
        Checkpoint.Save(path, 1, [], "{}", network, optimizer, shuffle, augment);
        return path;
    }

    private static void AssertSameState(Sequential expected, Sequential actual, bool withBatchCounts)
    {
        var a = expected.state_dict();
        var b = actual.state_dict();
        Assert.Equal(a.Keys, b.Keys);
        foreach (var key in a.Keys)
        {
            if (!withBatchCounts && key.EndsWith(".num_batches_tracked", StringComparison.Ordinal)) continue;
            Assert.True(SameBits(a[key], b[key]), $"{key} differs");
        }
    }

    private static bool SameBits(Tensor a, Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.contiguous().bytes.SequenceEqual(b.contiguous().bytes);

    [Fact]
    public void A_model_zip_gives_a_fresh_network_the_exported_weights_and_statistics_bit_for_bit()
    {
        using var trained = EveryLayerOnnxTests.TrainedEveryLayerNetwork(seed: 7);
        var path = ModelZip(trained, NetworkDefinitionTests.EveryLayer());
        random.manual_seed(8);
        using var fresh = Architectures.Create(NetworkDefinitionTests.EveryLayer(), 10);
        Assert.False(SameBits(trained.state_dict()["conv1.weight"], fresh.state_dict()["conv1.weight"]));

        InitialWeights.Load(path, fresh);

        AssertSameState(trained, fresh, withBatchCounts: false);
        fresh.eval();
        using var images = randn(2, 3, 32, 32);
        using var _ = no_grad();
        Assert.True(SameBits(trained.forward(images), fresh.forward(images)));
    }

    [Fact]
    public void A_checkpoint_gives_a_fresh_network_its_whole_state_bit_for_bit()
    {
        using var trained = EveryLayerOnnxTests.TrainedEveryLayerNetwork(seed: 9);
        var path = CheckpointFile(trained);
        random.manual_seed(10);
        using var fresh = Architectures.Create(NetworkDefinitionTests.EveryLayer(), 10);

        InitialWeights.Load(path, fresh);

        AssertSameState(trained, fresh, withBatchCounts: true);
        Assert.Equal(3, fresh.state_dict()["bn1.num_batches_tracked"].item<long>());
    }

    private static NetworkDefinition Small(params Layer[] layers) => new("Small", [.. layers, new D.GlobalAvgPool(), new D.Linear()]);

    private static Sequential Net(params Layer[] layers) => Architectures.Create(Small(layers), 10);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_mismatch_names_the_first_differing_layer_and_changes_nothing(bool zip)
    {
        var thereDefinition = Small(new D.Conv2d(6, 3, Padding: 1), new D.Conv2d(8, 3));
        using var there = Architectures.Create(thereDefinition, 10);
        var path = zip ? ModelZip(there, thereDefinition) : CheckpointFile(there);

        using var narrower = Net(new D.Conv2d(6, 3, Padding: 1), new D.Conv2d(4, 3));
        using var before = narrower.state_dict()["conv1.weight"].clone();
        var error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Load(path, narrower));
        Assert.Equal($"{path}: layer 'conv2' differs: weight is [8,6,3,3] there, [4,6,3,3] here", error.Message);
        Assert.True(SameBits(before, narrower.state_dict()["conv1.weight"]), "a failed load changed weights");

        using var noBias = Net(new D.Conv2d(6, 3, Padding: 1, Bias: false), new D.Conv2d(8, 3));
        Assert.Equal($"{path}: layer 'conv1' differs: bias is there, not here",
            Assert.Throws<InitialWeightsException>(() => InitialWeights.Load(path, noBias)).Message);

        using var extraLayer = Net(new D.Conv2d(6, 3, Padding: 1), new D.BatchNorm2d(), new D.Conv2d(8, 3));
        Assert.Equal($"{path}: layer 'bn1' is missing there",
            Assert.Throws<InitialWeightsException>(() => InitialWeights.Load(path, extraLayer)).Message);

        using var fewerLayers = Architectures.Create(new NetworkDefinition("Small",
            [new D.Conv2d(6, 3, Padding: 1), new D.GlobalAvgPool(), new D.Linear(), new D.Linear { Name = "fc2" }]), 10);
        var fewer = Assert.Throws<InitialWeightsException>(() => InitialWeights.Load(path, fewerLayers));
        Assert.Equal($"{path}: layer 'fc1' differs: weight is [10,8] there, [10,6] here", fewer.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Weights_of_other_classes_give_every_layer_but_the_head_which_keeps_its_fresh_weights(bool zip)
    {
        var thereDefinition = Small(new D.Conv2d(6, 3, Padding: 1), new D.Conv2d(8, 3));
        using var there = Architectures.Create(thereDefinition, 10);
        var path = zip ? ModelZip(there, thereDefinition) : CheckpointFile(there);
        using var fourClasses = Architectures.Create(new NetworkDefinition("Small",
            [new D.Conv2d(6, 3, Padding: 1), new D.Conv2d(8, 3), new D.GlobalAvgPool(), new D.Linear()]), 4);
        using var freshHead = fourClasses.state_dict()["fc1.weight"].clone();

        Assert.Equal("'fc1' differs: weight is [10,8] there, [4,8] here", InitialWeights.Load(path, fourClasses));

        foreach (var key in new[] { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias" })
            Assert.True(SameBits(there.state_dict()[key], fourClasses.state_dict()[key]), $"{key} was not loaded");
        Assert.True(SameBits(freshHead, fourClasses.state_dict()["fc1.weight"]), "the head did not stay fresh");
        using var sameClasses = Net(new D.Conv2d(6, 3, Padding: 1), new D.Conv2d(8, 3));
        Assert.Null(InitialWeights.Load(path, sameClasses));
    }

    [Fact]
    public void A_layer_only_the_file_has_is_named()
    {
        using var there = Net(new D.Conv2d(6, 3, Padding: 1), new D.Conv2d(6, 3, Padding: 1));
        var path = CheckpointFile(there);
        using var here = Net(new D.Conv2d(6, 3, Padding: 1));
        Assert.Equal($"{path}: layer 'conv2' is there, not here",
            Assert.Throws<InitialWeightsException>(() => InitialWeights.Load(path, here)).Message);
    }

    [Fact]
    public void Unreadable_files_are_refused_on_one_line_naming_the_file()
    {
        using var network = Net(new D.Conv2d(6, 3));

        var missing = Path.Combine(_dir, "absent.bin");
        var error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Load(missing, network));
        Assert.StartsWith($"{missing}: unreadable (", error.Message);

        var text = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(text, "not weights at all");
        Assert.Equal($"{text}: neither a model zip nor a Cifar checkpoint", Assert.Throws<InitialWeightsException>(() => InitialWeights.Load(text, network)).Message);

        var truncated = Path.Combine(_dir, "truncated.bin");
        var whole = File.ReadAllBytes(CheckpointFile(network));
        File.WriteAllBytes(truncated, whole[..(whole.Length / 3)]);
        error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Load(truncated, network));
        Assert.StartsWith($"{truncated}: unreadable (", error.Message);

        var zipWithoutGraph = Path.Combine(_dir, "empty.zip");
        using (var zip = ZipFile.Open(zipWithoutGraph, ZipArchiveMode.Create)) zip.CreateEntry("Schema").Open().Dispose();
        Assert.Equal($"{zipWithoutGraph}: no ONNX graph in it holds this network's weights (none has 'conv1.weight')",
            Assert.Throws<InitialWeightsException>(() => InitialWeights.Load(zipWithoutGraph, network)).Message);

        var brokenZip = Path.Combine(_dir, "broken.zip");
        File.WriteAllBytes(brokenZip, File.ReadAllBytes(ModelZip(network, Small(new D.Conv2d(6, 3))))[..200]);
        error = Assert.Throws<InitialWeightsException>(() => InitialWeights.Load(brokenZip, network));
        Assert.StartsWith($"{brokenZip}: unreadable (", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}
