using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cifar.Tests;

namespace Cifar.Host.Tests;

/// <summary><c>configs/fast.json</c>, the fast recipe, through the app on real images.</summary>
public class FastConfigTests
{
    [Fact]
    public void The_fast_recipe_learns_a_small_subset_in_two_epochs_well_above_chance_and_saves_its_run()
    {
        var root = TestData.RequireRoot();
        using var dir = new TestData.TempFolder();
        // 2,000 images in batches of 128 (the recipe's 1,024 would be two steps an epoch), two epochs.
        var result = HostRun.Run("train", "--config", Path.Combine(TestData.RepoRoot(), "configs", "fast.json"),
            "--output", dir.File("run"), $"--Data:Root={root}", "--Data:TrainLimit=2000", "--Data:ValidationLimit=500",
            "--Training:Epochs=2", "--Training:BatchSize=128", "--Training:Device=cpu");
        Assert.True(result.ExitCode == 0, result.Errors);
        var last = File.ReadAllLines(dir.File("run/metrics.csv"))[^1].Split(',');
        double accuracy = double.Parse(last[4], CultureInfo.InvariantCulture);
        Assert.True(accuracy > 0.25, $"validation accuracy {accuracy:P1} after two epochs; chance is 10 %");
        // The app read configs/fast.json as the library's CifarRecipe.Fast reads it, value for value.
        var written = JsonNode.Parse(File.ReadAllText(dir.File("run/config.json")))!.AsObject();
        written.Remove("Data");
        written.Remove("Torch");
        var trained = CifarRecipe.FromJson(written.ToJsonString());
        var expected = CifarRecipe.Fast with { Training = CifarRecipe.Fast.Training with { Epochs = 2, BatchSize = 128, Device = ComputeDevice.Cpu } };
        Assert.Equal(JsonSerializer.Serialize(expected), JsonSerializer.Serialize(trained));
        Assert.Equal("AirbenchNet", trained.Model.Architecture);
        Assert.True(File.Exists(dir.File("run/model.zip")));
        // The recipe's input gradients, on the CPU by the forward kernel: said on the training line and recorded.
        Assert.Contains("input gradients by flipped filters", result.Output);
        using var metrics = JsonDocument.Parse(File.ReadAllText(dir.File("run/metrics.json")));
        Assert.Equal("FlippedFilters", metrics.RootElement.GetProperty("run").GetProperty("input_gradient").GetString());
    }
}
