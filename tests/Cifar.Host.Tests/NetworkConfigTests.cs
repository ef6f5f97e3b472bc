using Cifar.Host.Cli;
using Cifar.Host.Configuration;
using Cifar.Networks;
using Cifar.Tests;

namespace Cifar.Host.Tests;

/// <summary>A network of one's own and a warm start, from a config file through a whole run.</summary>
public class NetworkConfigTests
{
    private const string Tiny = """
        { "Model": { "Network": { "Name": "Tiny", "Layers": [
            { "Type": "Conv2d", "OutChannels": 4, "KernelSize": 3, "Padding": 1 }, { "Type": "BatchNorm2d" }, { "Type": "Relu" },
            { "Type": "Residual", "Body": [ { "Type": "Conv2d", "OutChannels": 4, "KernelSize": 3, "Padding": 1 }, { "Type": "Gelu" } ] },
            { "Type": "GlobalAvgPool" }, { "Type": "Linear" } ] } },
          "Training": { "Epochs": 1, "BatchSize": 16, "Device": "cpu" } }
        """;

    private static readonly IReadOnlyDictionary<string, string> NoEnvironment = new Dictionary<string, string>();

    private static (CifarConfig, string) Load(TestData.TempFolder dir, string json, params KeyValuePair<string, string>[] overrides)
    {
        File.WriteAllText(dir.File("c.json"), json);
        return (ConfigLoader.Load(new[] { dir.File("c.json") }, overrides, NoEnvironment).Config, dir.File("c.json"));
    }

    [Fact]
    public void A_network_in_a_config_file_binds_to_its_definition()
    {
        using var dir = new TestData.TempFolder();
        var (config, _) = Load(dir, Tiny);
        var network = config.Model.Network!;
        Assert.Equal("Tiny", network.Name);
        Assert.Equal(new Layer[] { new Conv2d(4, 3, Padding: 1), new BatchNorm2d(), new Relu() }, network.Layers.Take(3));
        Assert.Equal(new Residual([new Conv2d(4, 3, Padding: 1), new Gelu()]), network.Layers[3]);
    }

    [Fact]
    public void A_bad_network_names_the_file_and_key_and_a_network_cannot_be_set_piecewise()
    {
        using var dir = new TestData.TempFolder();
        var error = Assert.Throws<UserError>(() => Load(dir, """{ "Model": { "Network": { "Name": "x", "Layers": [ { "Type": "Lstm" } ] } } }"""));
        Assert.StartsWith($"{dir.File("c.json")}: 'Model:Network': unreadable network definition (", error.Message);
        Assert.StartsWith($"{dir.File("c.json")}: 'Model:Network': unreadable network definition (",
            Assert.Throws<UserError>(() => Load(dir, """{ "Model": { "Network": { "Name": "x", "Layers": [ { "Type": "Conv2d", "OutChannels": 4, "KernelSize": 3, "Pading": 1 } ] } } }""")).Message);
        Assert.Equal("command line --Model:Network:Name: 'Model:Network:Name': a network is given whole, in a config file",
            Assert.Throws<UserError>(() => Load(dir, "{}", KeyValuePair.Create("Model:Network:Name", "x"))).Message);
        Assert.Equal("command line: 'Model:InitialWeights' is not a file (got 'nope.zip')",
            Assert.Throws<UserError>(() => Load(dir, "{}", KeyValuePair.Create("Model:InitialWeights", "nope.zip"))).Message);
    }

    [Fact]
    public void A_run_trains_the_configured_network_and_a_second_run_starts_from_its_model()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 20);
        File.WriteAllText(dir.File("c.json"), Tiny);
        string[] Train(string output, params string[] more) =>
            new[] { "train", "--config", dir.File("c.json"), "--output", dir.File(output), $"--Data:Root={dir.File("data")}" }.Concat(more).ToArray();

        var first = HostRun.Run(Train("first"));
        Assert.True(first.ExitCode == 0, first.Errors);
        var firstModel = dir.File("first/model.zip");
        Assert.True(File.Exists(firstModel));
        Assert.Contains("\"Tiny\"", File.ReadAllText(dir.File("first/config.json"))); // the run's config says which network

        var warm = HostRun.Run(Train("warm", $"--Model:InitialWeights={firstModel}"));
        Assert.True(warm.ExitCode == 0, warm.Errors);

        // The tutorial's network cannot start from the tiny one's weights: refused before training, naming the layer.
        File.WriteAllText(dir.File("seed.json"), """{ "Training": { "Epochs": 1, "Device": "cpu" } }""");
        var mismatch = HostRun.Run("train", "--config", dir.File("seed.json"), "--output", dir.File("mismatch"),
            $"--Data:Root={dir.File("data")}", $"--Model:InitialWeights={firstModel}");
        Assert.Equal(2, mismatch.ExitCode);
        Assert.Equal($"error: Model:InitialWeights: {firstModel}: layer 'conv1' differs: weight is [4,3,3,3] there, [64,3,5,5] here",
            HostRun.OneLineError(mismatch));
        Assert.DoesNotContain("Epoch 1/1", mismatch.Output);
    }

    [Fact]
    public void A_model_of_other_classes_fine_tunes_with_a_fresh_head_said_in_one_line_and_a_grey_one_is_refused_at_the_first_layer()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("cifar"), recordsPerBatch: 20);
        foreach (var (name, colour) in new[] { ("cats", (byte)40), ("dogs", (byte)200) })
        {
            Directory.CreateDirectory(dir.File($"pets/{name}"));
            for (int i = 0; i < 6; i++)
                TestImages.WriteBmp(dir.File($"pets/{name}/{i}.bmp"), 32, 32, (x, y) => (colour, (byte)(x * 8), (byte)(i * 20)));
        }
        File.WriteAllText(dir.File("c.json"), Tiny);
        string[] Train(string output, string data, params string[] more) =>
            new[] { "train", "--config", dir.File("c.json"), "--output", dir.File(output), $"--Data:Root={dir.File(data)}" }.Concat(more).ToArray();
        var cifar = HostRun.Run(Train("cifar10", "cifar"));
        Assert.True(cifar.ExitCode == 0, cifar.Errors);
        var tenClasses = dir.File("cifar10/model.zip");

        var pets = HostRun.Run(Train("pets-run", "pets", $"--Model:InitialWeights={tenClasses}"));

        Assert.True(pets.ExitCode == 0, pets.Errors);
        Assert.Contains($"fine-tuning: every layer from {tenClasses} but the head, which starts fresh (layer 'fc1' differs: weight is [10,4] there, [2,4] here)\n",
            pets.Output.ReplaceLineEndings("\n"));
        Assert.Contains("fine-tuning: every layer", File.ReadAllText(dir.File("pets-run/train.log")));
        using (var model = Cifar.MLNet.Prediction.CifarModel.Load(dir.File("pets-run/model.zip")))
            Assert.Equal(new[] { "cats", "dogs" }, model.ClassNames);

        var grey = HostRun.Run(Train("grey-run", "pets", $"--Model:InitialWeights={tenClasses}", "--Data:ColorMode=Grayscale"));
        Assert.Equal(2, grey.ExitCode);
        Assert.Equal($"error: Model:InitialWeights: {tenClasses}: layer 'conv1' differs: weight is [4,3,3,3] there, [4,1,3,3] here",
            HostRun.OneLineError(grey));
    }
}
