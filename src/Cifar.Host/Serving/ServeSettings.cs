using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Cifar.Host.Cli;
using Cifar.Host.Configuration;

namespace Cifar.Host.Serving;

/// <summary>
/// What <c>cifar serve</c> serves, and every limit it puts on requests (one place for all of them); each limit can be
/// set on the command line as <c>--Serve:Name=value</c> (<see cref="With"/>): sizes and counts as whole numbers,
/// durations in seconds, read as every number the app reads as text (<see cref="ConfigNumbers"/>).
/// </summary>
/// <param name="ModelPath">The model zip (watched: a replaced file is put in service).</param>
/// <param name="RunsFolder">The folder whose runs the runs page lists, or null for none.</param>
internal sealed record ServeSettings(string ModelPath, string? RunsFolder)
{
    /// <summary>The largest image accepted, in bytes (413 above it).</summary>
    public long MaxImageBytes { get; init; } = 8 << 20;

    /// <summary>The largest request body accepted, in bytes (413 above it).</summary>
    public long MaxRequestBytes { get; init; } = 32 << 20;

    /// <summary>The most images one request may carry (400 above it).</summary>
    public int MaxImages { get; init; } = 32;

    /// <summary>
    /// The longest request target (path and query) answered, in bytes (414 problem above it). Kestrel's own limit is
    /// set at twice this, so that the app, not Kestrel's empty-bodied answer, refuses all but the most extreme.
    /// </summary>
    public int MaxRequestTargetBytes { get; init; } = 8 << 10;

    /// <summary>The largest request header block answered, in bytes (431 problem above it; Kestrel's limit at twice this).</summary>
    public int MaxRequestHeadersBytes { get; init; } = 32 << 10;

    /// <summary>
    /// Prediction requests predicting at once (default one per processor), each on a worker thread of its own: a
    /// request holds one only while it predicts, never while its body arrives.
    /// </summary>
    public int MaxConcurrentPredictions { get; init; } = Environment.ProcessorCount;

    /// <summary>Prediction requests whose bodies are in and that wait for a worker (default 4 per processor); beyond them 503.</summary>
    public int MaxQueuedPredictions { get; init; } = 4 * Environment.ProcessorCount;

    /// <summary>The longest a received request waits for a worker before it is answered 503.</summary>
    public TimeSpan MaxPredictionWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Request-body bytes held in memory by all requests together, as they arrive, wait and predict (default 256 MiB):
    /// a request whose next bytes would pass it is answered 503. A slow upload holds only what it has sent.
    /// </summary>
    public long MaxBufferedBytes { get; init; } = 256L << 20;

    /// <summary>
    /// How long the server holds no request body after a burst before it gives the bodies' memory back to the system
    /// (a compacting collection; zero: never).
    /// </summary>
    public TimeSpan ReleaseMemoryAfterIdle { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The Retry-After a busy server (503) sends, in seconds.</summary>
    public int RetryAfterSeconds { get; init; } = 1;

    private const string Prefix = "Serve:";

    /// <summary>The limits that can be set: every init property but what is served.</summary>
    private static readonly PropertyInfo[] Limits = typeof(ServeSettings).GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite && p.Name is not (nameof(ModelPath) or nameof(RunsFolder) or "EqualityContract")).ToArray();

    /// <summary>These settings with the command line's <c>--Serve:Name=value</c> overrides applied.</summary>
    /// <exception cref="UserError">An unknown setting, a key of another section, or a value out of range; the message names it.</exception>
    public ServeSettings With(IEnumerable<KeyValuePair<string, string>> overrides)
    {
        var node = JsonSerializer.SerializeToNode(this)!.AsObject();
        foreach (var (key, text) in overrides)
        {
            var limit = key.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase)
                ? Limits.FirstOrDefault(p => p.Name.Equals(key[Prefix.Length..], StringComparison.OrdinalIgnoreCase))
                : null;
            if (limit is null)
                throw new UserError($"serve: unknown setting '--{key}' (settings: {string.Join(", ", Limits.Select(p => Prefix + p.Name))})");
            node[limit.Name] = limit.PropertyType == typeof(TimeSpan) ? Seconds(limit, text) : WholeNumber(limit, text);
        }
        return node.Deserialize<ServeSettings>()!;
    }

    private static long WholeNumber(PropertyInfo limit, string text) =>
        ConfigNumbers.TryWholeNumber(text, out var n) && n >= 1
        && (limit.PropertyType == typeof(long) || n <= int.MaxValue)
            ? n
            : throw new UserError($"--{Prefix}{limit.Name} must be a whole number of 1 or more (got '{TextEscaping.ControlCharacters(text)}')");

    // Zero is allowed only where it means "never" (ReleaseMemoryAfterIdle).
    private static string Seconds(PropertyInfo limit, string text)
    {
        bool zeroAllowed = limit.Name == nameof(ReleaseMemoryAfterIdle);
        if (ConfigNumbers.TryNumber(text, out var seconds)
            && seconds <= TimeSpan.MaxValue.TotalSeconds / 2 && TimeSpan.FromSeconds(seconds) is var span
            && (span > TimeSpan.Zero || zeroAllowed && seconds == 0)) // 1e-300 s is no time at all
            return span.ToString("c", CultureInfo.InvariantCulture);
        throw new UserError(
            $"--{Prefix}{limit.Name} must be a number of seconds {(zeroAllowed ? "(0: never)" : "greater than 0")} (got '{TextEscaping.ControlCharacters(text)}')");
    }
}
