namespace Cifar.Host.Tests;

public class CommandLineTests
{
    [Fact]
    public void Help_prints_the_usage_and_succeeds()
    {
        var result = HostRun.Run("--help");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("cifar train --config FILE", result.Output);
    }

    [Theory]
    [InlineData(new[] { "fly" }, "unknown command 'fly'")]
    [InlineData(new[] { "train", "--output", "x" }, "--config FILE is required")]
    [InlineData(new[] { "train", "--config", "configs/quick.json" }, "--output is required")]
    [InlineData(new[] { "train", "--config", "a.json", "--output", "x", "--epochs", "3" }, "unknown option '--epochs'")]
    [InlineData(new[] { "predict", "--model" }, "--model needs a value")]
    [InlineData(new[] { "predict", "--model", "m.zip", "--format", "xml", "a.png" }, "--format must be table, tsv or json")]
    [InlineData(new[] { "evaluate", "--model", "m.zip", "--split", "dev" }, "--split must be test or train")]
    [InlineData(new[] { "evaluate", "--model", "m.zip", "--limit", "lots" }, "--limit must be a whole number")]
    public void Bad_arguments_exit_2_with_one_line_naming_the_problem(string[] args, string expected)
    {
        var result = HostRun.Run(args);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, HostRun.OneLineError(result));
    }

    [Fact]
    public void A_missing_model_exits_2_and_names_it()
    {
        var result = HostRun.Run("predict", "--model", "/nowhere/model.zip", "/nowhere/cat.jpg");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("/nowhere/cat.jpg: image file not found", HostRun.OneLineError(result));
        result = HostRun.Run("evaluate", "--model", "/nowhere/model.zip");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("/nowhere/model.zip: model file not found", HostRun.OneLineError(result));
    }
}

public class CommandLineParsingTests
{
    [Fact]
    public void Everything_after_a_double_dash_is_positional()
    {
        var parsed = Cifar.Host.Cli.CommandLine.Parse(new[] { "predict", "--model", "m.zip", "a.png", "--", "--odd.png", "b.png" });
        Assert.Equal(new[] { "a.png", "--odd.png", "b.png" }, parsed.Positional);
        Assert.Equal("m.zip", parsed.Single("model"));
    }

    [Fact]
    public void Section_keys_become_overrides_in_both_forms()
    {
        var parsed = Cifar.Host.Cli.CommandLine.Parse(new[] { "train", "--Training:Epochs=3", "--Training:Seed", "7" });
        Assert.Equal(new[] { new KeyValuePair<string, string>("Training:Epochs", "3"), new("Training:Seed", "7") }, parsed.Overrides);
    }
}
