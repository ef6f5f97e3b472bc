using Cifar.Host.Artifacts;
using Cifar.Host.Cli;
using Cifar.Host.Commands;
using Cifar.Host.Configuration;
using Cifar.Host.Data;
using Cifar.Host.Serving;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cifar.Host;

/// <summary>The app: parses the command line, builds the Generic Host and runs one command.</summary>
internal static class CifarApp
{
    /// <summary>Runs a command; returns the exit code (0 ok, 2 user error, 1 anything else).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter errors, bool interactive, CancellationToken cancellation)
    {
        // Known before parsing, so that even a command line that does not parse can be reported in full.
        bool verbose = args.Contains("--verbose", StringComparer.OrdinalIgnoreCase);
        try
        {
            var command = CommandLine.Parse(args);
            switch (command.Command)
            {
                case "help":
                    output.WriteLine(CommandLine.Usage);
                    return ExitCodes.Success;
                case "train":
                    return await TrainAsync(command, output, interactive, cancellation);
                case "evaluate":
                    return new EvaluateCommand().Run(command.Required("model"), command.Single("split") ?? "test", command.Single("data"),
                        command.WholeNumber("limit") ?? 0, output, cancellation);
                case "export":
                    if (command.Positional.Count > 0) throw new UserError($"export: unexpected argument '{command.Positional[0]}'");
                    return ExportCommand.Run(command.Required("model"), command.Required("onnx"), output);
                case "quantize":
                    if (command.Positional.Count > 0) throw new UserError($"quantize: unexpected argument '{command.Positional[0]}'");
                    return QuantizeCommand.Run(command.Required("model"), command.Required("output"), command.Single("data"),
                        command.WholeNumber("calibration-images"), command.Single("max-accuracy-drop"), command.WholeNumber("limit"), command.WholeNumber("weight-bits"), output, cancellation);
                case "serve":
                    if (command.Positional.Count > 0) throw new UserError($"serve: unexpected argument '{command.Positional[0]}'");
                    var urls = ServeUrls.Check(command.Single("urls") ?? ServeCommand.DefaultUrl);
                    return await ServeCommand.RunAsync(command.Required("model"), command.Single("runs"), urls, command.Overrides, output, cancellation);
                default:
                    return new PredictCommand().Run(command.Required("model"), command.Single("format") ?? "table", command.Positional, output, cancellation);
            }
        }
        catch (Exception e) when (AsUserError(e) is { } userError)
        {
            return Report(errors, userError.Message, verbose ? e : null, ExitCodes.UserError);
        }
        catch (Exception e) when (e is DownloadError or TrainingDivergedException or CpuKernelsWrongException)
        {
            return Report(errors, e.Message, verbose ? e : null, ExitCodes.Failure);
        }
        catch (Exception e) when (e.GetBaseException() is OperationCanceledException) // ML.NET's workers deliver it wrapped
        {
            return Report(errors, "stopped", verbose ? e : null, ExitCodes.Failure);
        }
        catch (Exception e)
        {
            // Anything unforeseen: one line with the type to search for, and where its trace is.
            var cause = e.GetBaseException();
            var whereTheTraceIs = verbose ? "" : e.Data[RunLogKey] is string log ? $" (the full exception is in {log})" : " (--verbose prints the full exception)";
            return Report(errors, $"{cause.GetType().Name}: {ErrorText.FirstLine(cause.Message)}{whereTheTraceIs}", verbose ? e : null, ExitCodes.Failure);
        }
    }

    /// <summary>Writes "error: message" on one line (control characters escaped), and the full exception when given.</summary>
    private static int Report(TextWriter errors, string message, Exception? full, int exitCode)
    {
        errors.WriteLine($"error: {TextEscaping.ControlCharacters(ErrorText.FirstLine(message))}");
        if (full is not null) errors.WriteLine(full);
        return exitCode;
    }

    /// <summary>Log entries for the run's log only: the console already has its one-line error.</summary>
    private const string RunLogCategory = "Cifar.RunLog";

    /// <summary>The key of <see cref="Exception.Data"/> under which a failed train run records the log holding the exception.</summary>
    private const string RunLogKey = "Cifar.RunLog";

    // A user error may arrive wrapped, e.g. from a parallel loop.
    private static UserError? AsUserError(Exception e) => e switch
    {
        UserError u => u,
        AggregateException a => a.Flatten().InnerExceptions.OfType<UserError>().FirstOrDefault(),
        _ => null,
    };

    /// <summary>Logs the run's failure; false when the log cannot be written (a full disk), which must not hide the failure itself.</summary>
    private static bool TryLog(IHost host, Exception e)
    {
        try
        {
            host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(RunLogCategory).LogError(e, "The run failed");
            return true;
        }
        catch (Exception logging) when (logging is IOException or AggregateException)
        {
            return false;
        }
    }

    private static async Task<int> TrainAsync(CommandLine command, TextWriter output, bool interactive, CancellationToken cancellation)
    {
        var run = new RunLayout(command.Required("output"));
        if (File.Exists(run.Folder)) throw new UserError($"{run.Folder}: is a file, not a folder"); // before a resume looks inside it
        bool resume = command.Flags.Contains("resume");
        var (config, configRoot) = TrainingConfig(command, run, resume);
        using var folder = RunFolder.Open(run, resume);
        using var host = TrainingHost(run, config, configRoot);
        await host.StartAsync(cancellation);
        try
        {
            return await host.Services.GetRequiredService<TrainCommand>().RunAsync(run, resume, output, interactive, cancellation);
        }
        catch (Exception e)
        {
            // The console gets one line; the run's log keeps the whole exception, and the line says so only when it does.
            if (TryLog(host, e)) e.Data[RunLogKey] = run.Log;
            throw;
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// The run's configuration: the --config files (a resume without them reads the run's own config.json) and the
    /// overrides, with <c>Model:InitialWeights</c> made a full path.
    /// </summary>
    private static (CifarConfig Config, IConfigurationRoot Root) TrainingConfig(CommandLine command, RunLayout run, bool resume)
    {
        var configFiles = command.All("config");
        if (resume && configFiles.Count == 0)
        {
            if (!File.Exists(run.Config)) throw new UserError($"{run.Folder}: nothing to resume (no {RunLayout.ConfigFile}); give --config");
            configFiles = new[] { run.Config };
        }
        if (configFiles.Count == 0) throw new UserError("train: --config FILE is required (e.g. configs/quick.json)");
        if (resume && !File.Exists(run.Checkpoint))
            throw new UserError($"{run.Folder}: nothing to resume (no {RunLayout.CheckpointFile})");
        if (command.Positional.Count > 0) throw new UserError($"train: unexpected argument '{command.Positional[0]}'");
        var (config, configRoot) = ConfigLoader.Load(configFiles, command.Overrides);
        if (config.Model.InitialWeights is { } weights)
        {
            // Recorded in full in config.json, so a resume from another folder finds the same file.
            var full = Path.GetFullPath(weights);
            if (!resume && RunLayout.Files.Any(name => Path.GetFullPath(run.PathOf(name)) == full))
                throw new UserError($"Model:InitialWeights: {weights} is a file of {run.Folder}, which this run replaces; copy it elsewhere or train into another folder");
            config = config with { Model = config.Model with { InitialWeights = full } };
        }
        return (config, configRoot);
    }

    /// <summary>The Generic Host a training run runs in: the configuration, the console and the run's log, the command's services.</summary>
    private static IHost TrainingHost(RunLayout run, CifarConfig config, IConfigurationRoot configRoot)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddConfiguration(configRoot);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.AddFilter<Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider>(level => level >= LogLevel.Warning);
        builder.Logging.AddFilter<Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider>(RunLogCategory, LogLevel.None);
        // The commands print their own lines (warnings as "warning: …"); their log entries go to the run's log only.
        builder.Logging.AddFilter<Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider>(typeof(TrainCommand).Namespace, LogLevel.None);
        // Created by the container, so disposed with the host (the log file is closed after every run).
        builder.Services.AddSingleton<ILoggerProvider>(_ => new FileLoggerProvider(run.Log));
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(_ => new HttpClient { Timeout = TimeSpan.FromMinutes(30) });
        builder.Services.AddSingleton<CifarDownloader>();
        builder.Services.AddSingleton<TrainCommand>();
        return builder.Build();
    }
}
