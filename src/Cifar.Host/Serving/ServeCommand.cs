using Cifar.Host.Cli;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cifar.Host.Serving;

/// <summary><c>cifar serve</c>: <see cref="ServeApp"/> on Kestrel until Ctrl+C or SIGTERM.</summary>
internal static class ServeCommand
{
    /// <summary>Loopback only unless --urls says otherwise.</summary>
    public const string DefaultUrl = "http://127.0.0.1:5000";

    public static async Task<int> RunAsync(string modelPath, string? runsFolder, string urls, IEnumerable<KeyValuePair<string, string>> limits,
        TextWriter output, CancellationToken cancellation)
    {
        var settings = new ServeSettings(modelPath, runsFolder).With(limits);
        if (runsFolder is not null && !Directory.Exists(runsFolder)) throw new UserError($"--runs {runsFolder}: no such folder");
        using var host = BuildHost(settings, urls);
        try
        {
            host.Services.GetRequiredService<CifarModelPool>(); // loads the model now: a bad one stops here, before listening
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new UserError(e.Message, e);
        }
        try
        {
            await host.StartAsync(cancellation);
        }
        catch (Exception e) when (IsBindingFailure(e) && !cancellation.IsCancellationRequested)
        {
            throw new UserError($"--urls {urls}: {ErrorText.FirstLine(e.GetBaseException().Message)}", e);
        }
        var addresses = host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        output.WriteLine($"serving {modelPath} on {string.Join(", ", addresses)} (Ctrl+C stops)");
        output.Flush();
        await host.WaitForShutdownAsync(cancellation); // stops the host when cancelled
        return ExitCodes.Success;
    }

    /// <summary>The app on Kestrel at <paramref name="urls"/>, logging warnings (and Cifar's information) to stderr.</summary>
    /// <param name="settings">What to serve and the limits.</param>
    /// <param name="urls">Where to listen.</param>
    /// <param name="logging">More logging set-up (a test's log capture), after the command's own.</param>
    internal static IHost BuildHost(ServeSettings settings, string urls, Action<ILoggingBuilder>? logging = null) =>
        new HostBuilder()
            .ConfigureLogging(builder =>
            {
                builder.AddSimpleConsole(o => o.SingleLine = true);
                builder.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace); // stdout carries the command's own lines
                builder.SetMinimumLevel(LogLevel.Warning);
                builder.AddFilter("Cifar", LogLevel.Information);
                // A start that fails (an address in use, a bad URL) is reported in one line, not logged with its trace.
                builder.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
                logging?.Invoke(builder);
            })
            .ConfigureWebHost(web =>
            {
                // Kestrel's own limits above the app's, so that the app answers an oversized request with its JSON problem.
                web.UseKestrel(kestrel =>
                {
                    kestrel.Limits.MaxRequestBodySize = settings.MaxRequestBytes + 1;
                    kestrel.Limits.MaxRequestLineSize = 2 * settings.MaxRequestTargetBytes + 64; // + the method and version
                    kestrel.Limits.MaxRequestHeadersTotalSize = 2 * settings.MaxRequestHeadersBytes;
                });
                web.UseUrls(urls);
                ServeApp.Configure(web, settings);
            })
            .Build();

    /// <summary>
    /// Kestrel failing to bind an address of --urls: in use or not permitted (IOException), not a URL (FormatException),
    /// or https without a certificate (Kestrel's InvalidOperationException). Any other InvalidOperationException is a
    /// defect of the app, not of --urls, and is not reported as one.
    /// </summary>
    private static bool IsBindingFailure(Exception e) =>
        e is IOException or FormatException
        || e is InvalidOperationException && e.Source?.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal) == true;
}
