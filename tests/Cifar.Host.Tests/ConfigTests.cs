using Cifar.Host.Cli;
using Cifar.Host.Configuration;
using Cifar.Tests;

namespace Cifar.Host.Tests;

public class ConfigTests
{
    private static readonly IReadOnlyDictionary<string, string> NoEnvironment = new Dictionary<string, string>();

    private static (CifarConfig Config, Microsoft.Extensions.Configuration.IConfigurationRoot Root) Load(
        TestData.TempFolder dir, IEnumerable<string> jsons, IEnumerable<KeyValuePair<string, string>>? overrides = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var files = jsons.Select((json, i) =>
        {
            var path = dir.File($"c{i}.json");
            File.WriteAllText(path, json);
            return path;
        }).ToArray();
        return ConfigLoader.Load(files, (overrides ?? Array.Empty<KeyValuePair<string, string>>()).ToList(), environment ?? NoEnvironment);
    }

    [Theory]
    [InlineData("""{ "Data": { "ImageSize": 0, "ImageWidth": 28 } }""", "'Data:ImageSize' must be 1 to 1024 pixels (got 0)")]
    [InlineData("""{ "Data": { "ImageSize": 2000, "ImageHeight": 28 } }""", "'Data:ImageSize' must be 1 to 1024 pixels (got 2000)")]
    [InlineData("""{ "Data": { "ImageSize": 28, "ImageWidth": 0 } }""", "'Data:ImageWidth' must be 1 to 1024 pixels (got 0)")]
    public void An_image_side_out_of_range_is_named_by_the_key_that_gave_it(string json, string message) =>
        Assert.EndsWith(message, Error(json));

    [Fact]
    public void An_image_size_that_no_side_takes_is_not_checked()
    {
        using var dir = new TestData.TempFolder();
        var (config, _) = Load(dir, ["""{ "Data": { "ImageSize": 0, "ImageWidth": 28, "ImageHeight": 14 } }"""]);
        Assert.Equal(new MLNet.ImageFormat(28, 14), config.Data.ImageFormat());
    }

    private static string Error(string json, string? second = null)
    {
        using var dir = new TestData.TempFolder();
        var jsons = second is null ? new[] { json } : new[] { json, second };
        return Assert.Throws<UserError>(() => Load(dir, jsons)).Message;
    }

    [Theory]
    [InlineData("seed.json")]
    [InlineData("seed-augmented.json")]
    [InlineData("quick.json")]
    [InlineData("fast.json")]
    [InlineData("fast-muon.json")]
    public void The_app_reads_a_recipe_as_the_library_does_and_command_line_numbers_as_a_files(string name)
    {
        var file = Path.Combine(TestData.RepoRoot(), "configs", name);
        var sections = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(file),
            documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!.AsObject();
        sections.Remove("Data");
        sections.Remove("Torch");
        var library = CifarRecipe.FromJson(sections.ToJsonString());
        string Json(CifarRecipe r) => System.Text.Json.JsonSerializer.Serialize(r, ConfigLoader.Json);

        Assert.Equal(Json(library), Json(ConfigLoader.Load(new[] { file }, [], NoEnvironment).Config.Recipe));
        // The same numbers given as text on the command line give the same recipe.
        var overrides = new[] { KeyValuePair.Create("Training:LearningRate", library.Training.LearningRate.ToString("R", System.Globalization.CultureInfo.InvariantCulture)),
            KeyValuePair.Create("Training:Epochs", library.Training.Epochs.ToString(System.Globalization.CultureInfo.InvariantCulture)) };
        Assert.Equal(Json(library), Json(ConfigLoader.Load(new[] { file }, overrides, NoEnvironment).Config.Recipe));
    }

    [Fact]
    public void Numbers_given_as_text_become_numbers_exponents_signs_and_list_entries_included()
    {
        using var dir = new TestData.TempFolder();
        var (c, _) = Load(dir, new[] { "{}" }, new[]
        {
            KeyValuePair.Create("Training:LearningRate", "1e-3"), KeyValuePair.Create("Normalization:Mean:0", "-0.5"),
            KeyValuePair.Create("Training:Epochs", "+7"),
        });
        Assert.Equal((0.001, 7), (c.Training.LearningRate, c.Training.Epochs));
        Assert.Equal(new[] { -0.5f, 0.5f, 0.5f }, c.Normalization.Mean);
        var error = Assert.Throws<UserError>(() => Load(dir, new[] { "{}" }, new[] { KeyValuePair.Create("Training:Epochs", "1e3") }));
        Assert.Equal("command line --Training:Epochs: 'Training:Epochs' must be a whole number (got '1e3')", error.Message);
    }

    [Fact]
    public void The_seed_config_binds_to_the_tutorials_values()
    {
        var repo = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", ".."));
        var (c, _) = ConfigLoader.Load(new[] { Path.Combine(repo, "configs", "seed.json") }, new List<KeyValuePair<string, string>>(), NoEnvironment);
        Assert.Equal((15, 32, OptimizerKind.Adam, 0.001, 0.0005, 1, ComputeDevice.Auto),
            (c.Training.Epochs, c.Training.BatchSize, c.Training.Optimizer, c.Training.LearningRate, c.Training.WeightDecay, c.Training.Seed, c.Training.Device));
        Assert.Equal(new[] { 0.5f, 0.5f, 0.5f }, c.Normalization.Mean);
        Assert.Equal(new[] { 0.5f, 0.5f, 0.5f }, c.Normalization.Std);
        Assert.False(c.Augmentation.HorizontalFlip);
        Assert.Equal("SeedCnn", c.Model.Architecture);
        Assert.True(c.Training.FlushDenormals);
    }

    [Fact]
    public void Later_files_override_earlier_ones_and_the_command_line_overrides_both()
    {
        using var dir = new TestData.TempFolder();
        var (c, _) = Load(dir,
            new[] { """{ "Training": { "Epochs": 15, "BatchSize": 64 }, "Normalization": { "Mean": [0.1, 0.2, 0.3] } }""",
                    """{ "Training": { "Epochs": 3 }, "Normalization": { "Mean": [0.4, 0.5, 0.6] } }""" },
            new[] { new KeyValuePair<string, string>("Training:BatchSize", "8") });
        Assert.Equal(3, c.Training.Epochs);
        Assert.Equal(8, c.Training.BatchSize);
        Assert.Equal(new[] { 0.4f, 0.5f, 0.6f }, c.Normalization.Mean); // replaced, not appended
        Assert.Equal(new[] { 0.5f, 0.5f, 0.5f }, c.Normalization.Std);
    }

    [Fact]
    public void Environment_variables_override_files_and_the_command_line_overrides_them()
    {
        using var dir = new TestData.TempFolder();
        var environment = new Dictionary<string, string> { ["CIFAR_Training__Epochs"] = "4", ["CIFAR_Training__Seed"] = "9", ["OTHER"] = "x" };
        var (c, _) = Load(dir, new[] { """{ "Training": { "Epochs": 15 } }""" },
            new[] { new KeyValuePair<string, string>("Training:Seed", "11") }, environment);
        Assert.Equal(4, c.Training.Epochs);
        Assert.Equal(11, c.Training.Seed);
    }

    [Fact]
    public void An_unknown_key_is_named_with_its_file()
    {
        var message = Error("""{ "Training": { "Epoch": 3 } }""");
        Assert.Contains("c0.json", message);
        Assert.Contains("unknown key 'Training:Epoch'", message);
        Assert.Contains("unknown key 'Trainer'", Error("""{ "Trainer": {} }"""));
    }

    [Theory]
    [InlineData("""{ "Training": { "Epochs": "ten" } }""", "'Training:Epochs' must be a whole number (got \"ten\")")]
    [InlineData("""{ "Training": { "LearningRate": true } }""", "'Training:LearningRate' must be a number")]
    [InlineData("""{ "Augmentation": { "HorizontalFlip": "yes" } }""", "'Augmentation:HorizontalFlip' must be true or false")]
    [InlineData("""{ "Training": { "FlushDenormals": "on" } }""", "'Training:FlushDenormals' must be true or false")]
    [InlineData("""{ "Normalization": { "Mean": [0.5, 0.5] } }""", "'Normalization:Mean' must be 3 finite numbers (R, G, B) or 1 (grey) (got [0.5, 0.5])")]
    [InlineData("""{ "Normalization": { "Std": 0.5 } }""", "'Normalization:Std' must be a list of numbers (got 0.5)")]
    [InlineData("""{ "Training": { "Optimizer": 1 } }""", "'Training:Optimizer' must be one of Adam, Sgd, Nesterov, Muon (got 1)")]
    [InlineData("""{ "Training": { "EvaluationBatchSize": "big" } }""", "'Training:EvaluationBatchSize' must be a whole number (got \"big\")")]
    [InlineData("""{ "Training": 3 }""", "'Training' must be an object")]
    [InlineData("""{ "Training": { "LearningRate": 1e400 } }""", "'Training:LearningRate' must be a number (got 1e400)")]
    [InlineData("""{ "Normalization": { "Mean": [0.5, 1e400, 0.5] } }""", "'Normalization:Mean' must be a list of numbers (got an array of 3)")]
    public void Wrong_types_are_named(string json, string expected) => Assert.Contains(expected, Error(json));

    [Theory]
    [InlineData("""{ "Training": { "Epochs": 0 } }""", "'Training:Epochs' must be greater than 0 (got 0)")]
    [InlineData("""{ "Training": { "BatchSize": -4 } }""", "'Training:BatchSize' must be greater than 0 (got -4)")]
    [InlineData("""{ "Training": { "LearningRate": 0 } }""", "'Training:LearningRate' must be greater than 0 (got 0)")]
    [InlineData("""{ "Training": { "Optimizer": "Lion" } }""", "'Training:Optimizer' must be one of Adam, Sgd, Nesterov, Muon (got \"Lion\")")]
    [InlineData("""{ "Training": { "Device": "tpu" } }""", "'Training:Device' must be one of Auto, Cpu, Cuda (got \"tpu\")")]
    [InlineData("""{ "Training": { "ConvolutionInputGradient": "fast" } }""", "'Training:ConvolutionInputGradient' must be one of Libtorch, FlippedFilters (got \"fast\")")]
    [InlineData("""{ "Training": { "ValidationInterval": -1 } }""", "'Training:ValidationInterval' must be 0 (the last epoch only) or more (got -1)")]
    [InlineData("""{ "Model": { "Architecture": "ResNet" } }""", "'Model:Architecture' must be one of SeedCnn, AirbenchNet (got 'ResNet')")]
    [InlineData("""{ "Normalization": { "Std": [0.5, 0, 0.5] } }""", "'Normalization:Std' must be 3 numbers greater than 0")]
    [InlineData("""{ "Augmentation": { "RotationDegrees": 400 } }""", "'Augmentation:RotationDegrees' must be in [0, 180] (got 400)")]
    [InlineData("""{ "Augmentation": { "Translate": 9 } }""", "'Augmentation:Translate' must be in [0, 8] (got 9)")]
    [InlineData("""{ "Data": { "TrainLimit": -1 } }""", "'Data:TrainLimit' must be 0 (all) or more (got -1)")]
    public void Out_of_range_values_are_named_with_their_file(string json, string expected)
    {
        var message = Error(json);
        Assert.Contains(expected, message);
        Assert.Contains("c0.json", message);
    }

    [Theory]
    [InlineData("""{ "Training": { "Epochs": 3, "Epochs": 4 } }""", "c0.json: 'Training:Epochs' is given twice")]
    [InlineData("""{ "Training": { "epochs": 3, "Epochs": 4 } }""", "c0.json: 'Training:Epochs' is given twice")]
    [InlineData("""{ "Training": {}, "training": {} }""", "c0.json: 'training' is given twice")]
    public void A_key_given_twice_in_one_file_is_refused_naming_it(string json, string expected) =>
        Assert.EndsWith(expected, Error(json));

    [Fact]
    public void Defaults_come_from_the_library_records_and_lists_in_files_replace_the_ones_below()
    {
        using var dir = new TestData.TempFolder();
        var (c, _) = Load(dir, new[] { "{}" });
        Assert.Equal(new TrainingOptions(), c.Training);
        Assert.Equal(new ModelOptions(), c.Model);
        Assert.Equal(new AugmentationOptions(), c.Augmentation);
        Assert.Equal(PixelNormalization.Tutorial, c.Normalization);
        var (chosen, _) = Load(dir, new[] { """{ "Training": { "Optimizer": "sgd", "Device": "CPU", "EvaluationBatchSize": 100 } }""" });
        Assert.Equal((OptimizerKind.Sgd, ComputeDevice.Cpu, (int?)100), (chosen.Training.Optimizer, chosen.Training.Device, chosen.Training.EvaluationBatchSize));
    }

    [Fact]
    public void A_bad_value_names_the_file_it_came_from_not_the_first_file()
    {
        var message = Error("""{ "Training": { "Epochs": 3 } }""", """{ "Training": { "Epochs": -2 } }""");
        Assert.Contains("c1.json", message);
    }

    [Fact]
    public void Broken_json_names_the_file_and_line()
    {
        var message = Error("{\n  \"Training\": { \"Epochs\": 3,, }\n}");
        Assert.Contains("c0.json: not valid JSON (line 2", message);
    }

    [Fact]
    public void Bad_command_line_overrides_are_named()
    {
        using var dir = new TestData.TempFolder();
        KeyValuePair<string, string> O(string k, string v) => new(k, v);
        Assert.Contains("command line --Training:Epoch: unknown key 'Training:Epoch'",
            Assert.Throws<UserError>(() => Load(dir, new[] { "{}" }, new[] { O("Training:Epoch", "3") })).Message);
        Assert.Contains("'Training:Epochs' must be a whole number (got 'many')",
            Assert.Throws<UserError>(() => Load(dir, new[] { "{}" }, new[] { O("Training:Epochs", "many") })).Message);
        Assert.Contains("command line: 'Training:Epochs' must be greater than 0",
            Assert.Throws<UserError>(() => Load(dir, new[] { "{}" }, new[] { O("Training:Epochs", "0") })).Message);
        var (c, _) = Load(dir, new[] { "{}" }, new[] { O("Normalization:Mean:1", "0.25") });
        Assert.Equal(new[] { 0.5f, 0.25f, 0.5f }, c.Normalization.Mean);
    }

    [Fact]
    public void A_missing_config_file_is_named() =>
        Assert.Contains("nope.json: config file not found",
            Assert.Throws<UserError>(() => ConfigLoader.Load(new[] { "nope.json" }, new List<KeyValuePair<string, string>>(), NoEnvironment)).Message);
}
