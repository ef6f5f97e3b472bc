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
