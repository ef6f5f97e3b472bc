using System.Globalization;
using System.Text;

namespace Cifar.Bench;

/// <summary>
/// Rows 8 and 9 of <c>all</c>: <c>cifar serve</c> with the fast recipe's model (six test-time views per image), the float32
/// zip and its int8 copy alternated (float32, int8, float32, int8…), each a fresh server measured by
/// <see cref="HttpBenchmark"/> at <see cref="Clients"/> and at <see cref="OverloadClients"/> concurrent clients.
/// </summary>
internal sealed class FastServing
{
    /// <summary>Clients of row 8, the goal's load.</summary>
    public const int Clients = 8;

    /// <summary>Clients of row 9: beyond capacity, where the server should answer 503 at once rather than queue.</summary>
    public const int OverloadClients = 32;

    /// <summary>Requests per measurement, and the longest one may take.</summary>
    private const int Requests = 2000, Seconds = 60;

    public readonly Dictionary<string, List<double>> Values = new();

    public static FastServing Measure(string benchDll, string float32Zip, string int8Zip, string dataRoot, int pairs)
    {
        var m = new FastServing();
        for (int i = 1; i <= pairs; i++)
            foreach (int clients in new[] { Clients, OverloadClients })
                foreach (var (kind, zip) in new[] { ("float32", float32Zip), ("int8", int8Zip) })
                {
                    var run = SideBySide.Checked($"fast {kind} http", ProcessRun.Measure("dotnet",
                        new[] { benchDll, "http", zip, dataRoot, $"{clients}", $"{Requests}", $"{Seconds}" }));
                    foreach (var key in new[] { "requests/s", "p50", "p99", "errors", "requests" })
                        m.Add($"{kind} {clients} {key}", run.Value(key));
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"fast {kind}, {clients} clients, pair {i}: {run.Value("requests/s"):F0} requests/s, p50 {run.Value("p50"):F1} ms, p99 {run.Value("p99"):F1} ms, {run.Value("errors")} of {run.Value("requests")} refused"));
                }
        return m;
    }

    private void Add(string key, double value)
    {
        if (!Values.TryGetValue(key, out var list)) Values[key] = list = new List<double>();
        list.Add(value);
    }

    private double M(string key) => SideBySide.Median(Values[key]);

    public string Rows()
    {
        var s = new StringBuilder();
        string Cell(string kind, int clients) => string.Create(CultureInfo.InvariantCulture,
            $"{kind}: {M($"{kind} {clients} requests/s"):F0} requests/s, p50 {M($"{kind} {clients} p50"):F1} ms, p99 {M($"{kind} {clients} p99"):F1} ms, {M($"{kind} {clients} errors"):F0} of {M($"{kind} {clients} requests"):F0} refused");
        double rate = M($"int8 {Clients} requests/s"), p99 = M($"int8 {Clients} p99");
        bool met = rate >= 250 && p99 <= 100 && M($"int8 {Clients} errors") == 0;
        s.AppendLine(SideBySide.Row($"8. HTTP, fast model (6 test-time views), {Clients} clients", Cell("int8", Clients), Cell("float32", Clients),
            string.Create(CultureInfo.InvariantCulture, $"{rate / M($"float32 {Clients} requests/s"):F2}×"), "int8 ≥ 250 requests/s, p99 ≤ 100 ms, no error", met ? "met" : "NOT met"));
        s.AppendLine(SideBySide.Row($"9. HTTP, fast model, {OverloadClients} clients (beyond capacity: 503s expected)", Cell("int8", OverloadClients), Cell("float32", OverloadClients),
            string.Create(CultureInfo.InvariantCulture, $"{M($"int8 {OverloadClients} requests/s") / M($"float32 {OverloadClients} requests/s"):F2}×"), "p99 ≤ 100 ms for the answered", M($"int8 {OverloadClients} p99") <= 100 ? "met" : "NOT met"));
        return s.ToString();
    }
}
