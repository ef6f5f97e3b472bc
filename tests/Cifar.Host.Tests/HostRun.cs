using Cifar.Host;

namespace Cifar.Host.Tests;

/// <summary>Runs the app in-process, as the command line would, capturing its output.</summary>
public static class HostRun
{
    public sealed record Result(int ExitCode, string Output, string Errors);

    public static Result Run(params string[] args) => RunAsync(args, CancellationToken.None).GetAwaiter().GetResult();

    public static async Task<Result> RunAsync(string[] args, CancellationToken cancellation)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        int code = await CifarApp.RunAsync(args, output, errors, interactive: false, cancellation);
        return new Result(code, output.ToString(), errors.ToString());
    }

    /// <summary>
    /// <c>cifar train</c> for one CPU epoch of batch 4 on <paramref name="dataRoot"/>, into <c>dir/run</c> (config <c>dir/c.json</c>),
    /// with <paramref name="more"/> arguments.
    /// </summary>
    public static Result TrainOneEpoch(Cifar.Tests.TestData.TempFolder dir, string dataRoot, params string[] more)
    {
        File.WriteAllText(dir.File("c.json"), """{ "Training": { "Epochs": 1, "BatchSize": 4, "Device": "cpu" } }""");
        return Run(new[] { "train", "--config", dir.File("c.json"), "--output", dir.File("run"), $"--Data:Root={dataRoot}" }.Concat(more).ToArray());
    }

    /// <summary>The error line of a failed run, checked to be one line with no stack trace.</summary>
    public static string OneLineError(Result result)
    {
        var text = result.Errors.TrimEnd();
        Assert.DoesNotContain('\n', text);
        Assert.DoesNotContain("   at ", text);
        Assert.StartsWith("error: ", text);
        return text;
    }
}
