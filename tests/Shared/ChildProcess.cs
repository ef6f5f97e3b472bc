using System.Diagnostics;

namespace Cifar.Tests;

/// <summary>
/// A program run by a test to its end, both output streams read at once (so that a full pipe never stalls it), killed
/// with its children if it outlives its time or the test is cancelled.
/// </summary>
public static class ChildProcess
{
    public sealed record Result(int ExitCode, string Output, string Errors);

    /// <summary>
    /// Runs <paramref name="file"/> with <paramref name="args"/>; <paramref name="environment"/> sets variables (null
    /// removes one). The test fails when the process takes longer than <paramref name="limit"/>.
    /// </summary>
    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, TimeSpan limit,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
            if (value is null) start.Environment.Remove(name);
            else start.Environment[name] = value;
        using var process = Process.Start(start)!;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(limit);
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(deadline.Token);
            var errors = process.StandardError.ReadToEndAsync(deadline.Token);
            await process.WaitForExitAsync(deadline.Token);
            return new Result(process.ExitCode, await output, await errors);
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            Assert.Fail($"{Path.GetFileName(file)} {string.Join(' ', args)} did not finish in {limit}");
            throw;
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>As <see cref="RunAsync"/>, for tests that are not async.</summary>
    public static Result Run(string file, IEnumerable<string> args, TimeSpan limit, IReadOnlyDictionary<string, string?>? environment = null) =>
        RunAsync(file, args, limit, environment).GetAwaiter().GetResult();
}
