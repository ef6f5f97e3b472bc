using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Cifar.Host.Tests;

/// <summary>
/// The app in a process of its own (<c>dotnet cifar.dll</c> from the tests' build output), with a temporary folder
/// (TMPDIR) of its own: what the process leaves there is what the app left, whatever other tests do meanwhile. Ctrl+C
/// is SIGINT sent to the process once its output shows the moment to stop.
/// </summary>
public sealed class AppProcess
{
    public sealed record Result(int ExitCode, string Output, string Errors);

    private const int SigInt = 2;

    /// <summary>Runs the app to its end; the test fails if it takes more than <paramref name="minutes"/>.</summary>
    public static Task<Result> RunAsync(string tempFolder, string[] args, int minutes = 3) =>
        RunAsync(tempFolder, args, interruptAfterLine: null, minutes);

    /// <summary>
    /// Runs the app and sends it SIGINT when it writes a line starting with <paramref name="interruptAfterLine"/> on its
    /// standard output.
    /// </summary>
    public static async Task<Result> RunAsync(string tempFolder, string[] args, string? interruptAfterLine, int minutes = 3)
    {
        // env restores SIGINT's default action before it becomes dotnet (same process): a test run started in the
        // background by a shell without job control ignores SIGINT, and its children would inherit that.
        var start = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--default-signal=INT", "dotnet", Path.Combine(AppContext.BaseDirectory, "cifar.dll") }) start.ArgumentList.Add(arg);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["TMPDIR"] = tempFolder;
        // The app itself must keep ONNX Runtime's telemetry file out of the temporary folder.
        start.Environment.Remove("ORT_DISABLE_TELEMETRY");
        // And set its own heap up for training (a user's GLIBC_TUNABLES would keep it from doing so).
        start.Environment.Remove("GLIBC_TUNABLES");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(minutes));
        using var process = Process.Start(start)!;
        try
        {
            var errors = process.StandardError.ReadToEndAsync(deadline.Token);
            var output = new System.Text.StringBuilder();
            while (await process.StandardOutput.ReadLineAsync(deadline.Token) is { } line)
            {
                output.AppendLine(line);
                if (interruptAfterLine is not null && line.StartsWith(interruptAfterLine, StringComparison.Ordinal))
                {
                    Assert.False(IgnoresSigInt(process.Id), "the app ignores SIGINT, so Ctrl+C cannot reach it");
                    Assert.Equal(0, kill(process.Id, SigInt));
                    interruptAfterLine = null;
                }
            }
            await process.WaitForExitAsync(deadline.Token);
            return new Result(process.ExitCode, output.ToString(), await errors);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>Whether the process ignores SIGINT: bit 1 of the SigIgn mask in /proc/PID/status.</summary>
    private static bool IgnoresSigInt(int pid)
    {
        var mask = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("SigIgn:", StringComparison.Ordinal))["SigIgn:".Length..].Trim();
        return (ulong.Parse(mask, NumberStyles.HexNumber, CultureInfo.InvariantCulture) & (1UL << (SigInt - 1))) != 0;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
