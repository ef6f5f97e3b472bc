using System.Diagnostics;
using System.Text;

namespace Cifar.Bench;

/// <summary>A finished child process: wall time, exit code, output, and its memory as /proc saw it.</summary>
/// <param name="WallSeconds">From start to exit, start-up included.</param>
/// <param name="ExitCode">The exit code.</param>
/// <param name="Output">Standard output and error, interleaved.</param>
/// <param name="PeakRssMiB">The process's peak resident memory (VmHWM), its children not included.</param>
/// <param name="RssAtEpochMiB">Resident memory when each "Epoch k/N" line appeared.</param>
internal sealed record ProcessRun(double WallSeconds, int ExitCode, string Output, double PeakRssMiB, IReadOnlyList<double> RssAtEpochMiB)
{
    /// <summary>Runs <paramref name="file"/> to the end, sampling /proc every 50 ms.</summary>
    public static ProcessRun Measure(string file, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        var output = new StringBuilder();
        var rssAtEpoch = new List<double>();
        double peak = 0;
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        void OnLine(string? line)
        {
            if (line is null) return;
            lock (output)
            {
                output.AppendLine(line);
                if (line.StartsWith("Epoch ", StringComparison.Ordinal) && ReadStatus(process.Id) is { } status)
                    rssAtEpoch.Add(status.Rss);
            }
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        while (!process.WaitForExit(50))
            if (ReadStatus(process.Id) is { } status) peak = Math.Max(peak, status.Peak);
        double wall = clock.Elapsed.TotalSeconds;
        process.WaitForExit(); // drains the output
        lock (output) return new ProcessRun(wall, process.ExitCode, output.ToString(), peak, rssAtEpoch.ToArray());
    }

    /// <summary>The first number after <paramref name="key"/> at the start of an output line.</summary>
    public double Value(string key)
    {
        foreach (var line in Output.Split('\n'))
            if (line.StartsWith(key + " ", StringComparison.Ordinal))
                return double.Parse(line[(key.Length + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        throw new InvalidOperationException($"no '{key}' in the output:\n{Output}");
    }

    private static (double Rss, double Peak)? ReadStatus(int pid)
    {
        try
        {
            double rss = 0, peak = 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = KiB(line) / 1024;
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) peak = KiB(line) / 1024;
            }
            return (rss, peak);
        }
        catch (IOException)
        {
            return null; // exited between the check and the read
        }
    }

    private static double KiB(string line) => double.Parse(line.Split(':')[1].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
}
