using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;

namespace Cifar.Bench;

/// <summary>
/// <c>http HOSTDLL MODEL DATA [CLIENTS] [REQUESTS] [SECONDS]</c>: <c>cifar serve</c> in a process of its own on
/// loopback, and CLIENTS concurrent clients (default 8) each posting one test JPEG at a time to
/// <c>/api/predict</c> as multipart/form-data, REQUESTS posts in all (default 4,000) or until SECONDS
/// (default 120) have passed, after 200 warm-up posts. Latency is each post's, from send to the parsed
/// status; an error is any answer but 200, or no answer. Prints <c>requests/s</c>, <c>p50</c>, <c>p99</c> (ms),
/// <c>errors</c> and <c>requests</c>.
/// </summary>
internal static class HttpBenchmark
{
    public static int Run(string hostDll, string modelPath, string dataRoot, int clients, int requests, int seconds)
    {
        if (clients < 1 || requests < 1 || seconds < 1) throw new ArgumentException("clients, requests and seconds must be 1 or more");
        var images = Directory.EnumerateFiles(Path.Combine(dataRoot, "test"), "*.jpg", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal).Take(1000).Select(File.ReadAllBytes).ToArray();
        if (images.Length == 0) throw new FileNotFoundException($"{dataRoot}/test: no JPEG images");

        string url = $"http://127.0.0.1:{FreePort()}";
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { hostDll, "serve", "--model", modelPath, "--urls", url }) start.ArgumentList.Add(a);
        using var server = Process.Start(start) ?? throw new InvalidOperationException("cannot start cifar serve");
        server.OutputDataReceived += (_, _) => { };
        server.ErrorDataReceived += (_, e) => { if (e.Data is { } line) Console.Error.WriteLine($"serve: {line}"); };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan }) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
            WaitUntilHealthy(client, server);
            Load(client, images, clients, 200, seconds); // warm-up: engines, JIT, connections
            var clock = Stopwatch.StartNew();
            var (latencies, errors) = Load(client, images, clients, requests, seconds);
            double elapsed = clock.Elapsed.TotalSeconds;
            latencies.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"requests/s {(latencies.Count + errors) / elapsed:F1}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"p50 {Percentile(latencies, 0.50):F3}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"p99 {Percentile(latencies, 0.99):F3}"));
            Console.WriteLine($"errors {errors}");
            Console.WriteLine($"requests {latencies.Count + errors}");
            return 0;
        }
        finally
        {
            if (!server.HasExited) server.Kill();
            server.WaitForExit();
        }
    }

    /// <summary>Runs until <paramref name="count"/> posts have been sent or the time is up; the latencies of the 200s, and the errors.</summary>
    private static (List<double> Milliseconds, int Errors) Load(HttpClient client, byte[][] images, int clients, int count, int seconds)
    {
        int next = -1, errors = 0;
        var deadline = Stopwatch.GetTimestamp() + (long)(seconds * (double)Stopwatch.Frequency);
        var all = new List<double>[clients];
        var workers = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = all[c] = new List<double>();
            int i;
            while ((i = Interlocked.Increment(ref next)) < count && Stopwatch.GetTimestamp() < deadline)
            {
                using var form = new MultipartFormDataContent();
                var image = new ByteArrayContent(images[i % images.Length]);
                image.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
                form.Add(image, "files", $"{i}.jpg");
                long start = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await client.PostAsync("/api/predict", form);
                    await response.Content.ReadAsByteArrayAsync();
                    if (response.StatusCode == HttpStatusCode.OK) mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    else Interlocked.Increment(ref errors);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })).ToArray();
        Task.WaitAll(workers);
        return (all.SelectMany(l => l).ToList(), errors);
    }

    private static void WaitUntilHealthy(HttpClient client, Process server)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (server.HasExited) throw new InvalidOperationException($"cifar serve exited with {server.ExitCode}");
            try
            {
                if (client.GetAsync("/health").GetAwaiter().GetResult().IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }
            if (DateTime.UtcNow >= deadline) throw new InvalidOperationException("cifar serve did not answer /health within 60 s");
            Thread.Sleep(100);
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static double Percentile(List<double> sorted, double q) =>
        sorted.Count == 0 ? double.NaN : sorted[(int)Math.Min(sorted.Count - 1, Math.Floor(q * sorted.Count))];
}
