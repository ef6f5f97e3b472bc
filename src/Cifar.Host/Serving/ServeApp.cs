using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.RateLimiting;
using Cifar.Host.Cli;
using Cifar.Host.Commands;
using Cifar.MLNet;
using Cifar.MLNet.Prediction;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;

namespace Cifar.Host.Serving;

/// <summary>What <c>cifar serve</c> serves, and its limits on requests.</summary>
/// <param name="ModelPath">The model zip (watched: a replaced file is put in service).</param>
/// <param name="RunsFolder">The folder whose runs the runs page lists, or null for none.</param>
public sealed record ServeSettings(string ModelPath, string? RunsFolder)
{
    /// <summary>The name the model is registered under in <see cref="CifarModelPool"/>.</summary>
    public const string ModelName = "cifar";

    /// <summary>The largest image accepted, in bytes (413 above it).</summary>
    public long MaxImageBytes { get; init; } = 8 << 20;

    /// <summary>The largest request body accepted, in bytes (413 above it).</summary>
    public long MaxRequestBytes { get; init; } = 32 << 20;

    /// <summary>The most images one request may carry (400 above it).</summary>
    public int MaxImages { get; init; } = 32;

    /// <summary>
    /// Prediction requests handled at once (default 4 per processor): each holds its body in memory, so this bounds
    /// the memory and CPU that predictions take.
    /// </summary>
    public int MaxConcurrentPredictions { get; init; } = 4 * Environment.ProcessorCount;

    /// <summary>Prediction requests waiting for one of those (default as many); beyond them a request is refused with 503.</summary>
    public int MaxQueuedPredictions { get; init; } = 4 * Environment.ProcessorCount;
}

/// <summary>One image's prediction, as <c>POST /api/predict</c> answers it.</summary>
/// <param name="Name">The upload's file name (<c>body</c> for a raw image body).</param>
/// <param name="Label">The most probable class.</param>
/// <param name="Probability">Its probability.</param>
/// <param name="Top3">The three most probable classes, most probable first.</param>
/// <param name="Milliseconds">Time to decode and predict this image.</param>
public sealed record ImageResult(string Name, string Label, float Probability, IReadOnlyList<ClassProbability> Top3, double Milliseconds);

/// <summary>The answer to <c>POST /api/predict</c>: the model version that predicted, and one result per image in upload order.</summary>
public sealed record PredictResponse(string Sha256, IReadOnlyList<ImageResult> Predictions);

/// <summary>The image size the network takes.</summary>
public sealed record InputSize(int Width, int Height, int Channels);

/// <summary>The answer to <c>GET /api/model</c>.</summary>
/// <param name="File">The model's file name.</param>
/// <param name="Sha256">SHA-256 of the zip in service.</param>
/// <param name="LoadedAt">When that version was loaded.</param>
/// <param name="Classes">Class names in score order.</param>
/// <param name="Input">The image size the network takes (any image is resized to it).</param>
/// <param name="Config">The run's config.json beside the zip when this version was loaded, when there was one.</param>
public sealed record ModelInfo(string File, string Sha256, DateTimeOffset LoadedAt, IReadOnlyList<string> Classes, InputSize Input, JsonElement? Config);

/// <summary>One run folder, as <c>GET /api/runs</c> lists it.</summary>
/// <param name="Name">The folder's name.</param>
/// <param name="Epochs">metrics.json's per-epoch rows (empty when it is missing or unreadable).</param>
/// <param name="Plots">The URL of each plot the run has, by kind (loss, accuracy, confusion).</param>
public sealed record RunSummary(string Name, JsonArray Epochs, IReadOnlyDictionary<string, string> Plots);

/// <summary>
/// <c>cifar serve</c>'s web app: the prediction API, the model's description, health, the OpenAPI
/// document, the runs listing and the static pages (wwwroot). Built on any <see cref="IWebHostBuilder"/>,
/// so the command (Kestrel) and the tests (an in-memory server) run the very same app.
/// </summary>
public sealed class ServeApp
{
    /// <summary>Each plot a run can have, by the kind its URL names, and its file in the run folder.</summary>
    private static readonly (string Kind, string File)[] Plots =
        [("loss", TrainCommand.LossPlot), ("accuracy", TrainCommand.AccuracyPlot), ("confusion", TrainCommand.ConfusionPlot)];
    private const string PredictLimit = "predict";

    private ServeApp() { }

    /// <summary>Adds the app's services and request pipeline to <paramref name="web"/>.</summary>
    public static void Configure(IWebHostBuilder web, ServeSettings settings)
    {
        web.ConfigureServices(services =>
        {
            services.AddRouting();
            services.AddProblemDetails();
            services.AddOpenApi();
            services.AddSingleton(settings);
            services.AddPredictionEnginePool().FromFile(ServeSettings.ModelName, settings.ModelPath, watchForChanges: true);
            services.AddRateLimiter(limits =>
            {
                // Requests wait (not read yet) in a bounded queue, oldest first; beyond it the server says it is busy.
                limits.AddConcurrencyLimiter(PredictLimit, limit =>
                {
                    limit.PermitLimit = Math.Max(1, settings.MaxConcurrentPredictions);
                    limit.QueueLimit = Math.Max(0, settings.MaxQueuedPredictions);
                    limit.QueueProcessingOrder = QueueProcessingOrder.OldestFirst;
                });
                limits.OnRejected = (context, cancellation) =>
                {
                    context.HttpContext.Response.Headers.RetryAfter = "1";
                    return new ValueTask(Problem(StatusCodes.Status503ServiceUnavailable,
                        $"the server is busy: {settings.MaxConcurrentPredictions} prediction requests are running and {settings.MaxQueuedPredictions} waiting; try again shortly")
                        .ExecuteAsync(context.HttpContext));
                };
            });
        });
        web.Configure(app =>
        {
            // Every error is problem details (JSON); never a stack trace, whatever the environment.
            app.UseExceptionHandler(new ExceptionHandlerOptions
            {
                StatusCodeSelector = e => e is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError,
            });
            app.UseStatusCodePages();
            // The pages are resources of this assembly: a request's path is looked up among them, never on disk.
            var pages = new EmbeddedFileProvider(typeof(ServeApp).Assembly, "wwwroot");
            app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = pages });
            app.UseStaticFiles(new StaticFileOptions { FileProvider = pages });
            app.UseRouting();
            app.UseRateLimiter();
            app.UseEndpoints(Map);
        });
    }

    private static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapOpenApi();
        endpoints.MapGet("/health", (CifarModelPool pool) =>
        {
            using var lease = pool.Borrow(ServeSettings.ModelName);
            return TypedResults.Ok(new { status = "ok", sha256 = lease.Sha256 });
        });
        endpoints.MapGet("/api/model", DescribeModel).WithSummary("The model in service: classes, input size, SHA-256, training config.");
        endpoints.MapPost("/api/predict", PredictAsync)
            .WithSummary("Predicts each image: multipart/form-data files, or one image as the raw body.")
            .Accepts<IFormFileCollection>("multipart/form-data", "application/octet-stream", "image/*") // others: 415
            .Produces<PredictResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .RequireRateLimiting(PredictLimit);
        endpoints.MapGet("/api/runs", ListRuns).WithSummary("The runs under --runs, with their per-epoch metrics and plots.");
        endpoints.MapGet("/api/runs/{run}/{kind}.png", GetPlot).WithSummary("A run's loss, accuracy or confusion plot.");
    }

    private static ModelInfo DescribeModel(CifarModelPool pool, ServeSettings settings)
    {
        using var lease = pool.Borrow(ServeSettings.ModelName);
        return new ModelInfo(Path.GetFileName(settings.ModelPath), lease.Sha256, lease.LoadedAt, lease.Model.ClassNames,
            new InputSize(CifarImage.Width, CifarImage.Height, CifarImage.Channels), lease.TrainingConfig);
    }

    private static async Task<IResult> PredictAsync(HttpRequest request, CifarModelPool pool, ServeSettings settings, CancellationToken cancellation)
    {
        if (request.ContentLength > settings.MaxRequestBytes) return RequestTooLarge(settings);
        using var body = await ReadBodyAsync(request, settings.MaxRequestBytes, cancellation);
        if (body is null) return RequestTooLarge(settings);
        if (body.Length == 0) return Problem(StatusCodes.Status400BadRequest, "the request has no body: post images as multipart/form-data files, or one image as the body");

        var images = new List<(string Name, byte[] Bytes)>();
        if (request.HasFormContentType)
        {
            request.Body = body; // seekable: the form's files are read from it in place
            IFormCollection form;
            try
            {
                form = await request.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = settings.MaxRequestBytes }, cancellation);
            }
            catch (InvalidDataException e)
            {
                return Problem(StatusCodes.Status400BadRequest, $"the multipart body cannot be read ({ErrorText.FirstLine(e.Message)})");
            }
            catch (IOException) when (!cancellation.IsCancellationRequested)
            {
                // The body is already in memory, so an IOException here is the multipart reader's: the body ends before
                // its closing boundary (truncated, or not multipart at all despite its Content-Type).
                return Problem(StatusCodes.Status400BadRequest, "the multipart body cannot be read: it ends before its closing boundary (truncated, or not multipart/form-data)");
            }
            if (form.Files.Count == 0) return Problem(StatusCodes.Status400BadRequest, "the form holds no files: add one or more images");
            if (form.Files.Count > settings.MaxImages)
                return Problem(StatusCodes.Status400BadRequest, $"the request holds {form.Files.Count} files; at most {settings.MaxImages} are accepted");
            foreach (var file in form.Files)
            {
                var name = TextEscaping.ControlCharacters(string.IsNullOrEmpty(file.FileName) ? file.Name : file.FileName);
                if (file.Length > settings.MaxImageBytes) return ImageTooLarge(name, file.Length, settings);
                if (file.Length == 0) return Problem(StatusCodes.Status400BadRequest, $"{name}: the file is empty");
                var bytes = new byte[file.Length]; // each image is copied once, into an array of its size
                await using (var stream = file.OpenReadStream()) await stream.ReadExactlyAsync(bytes, cancellation);
                images.Add((name, bytes));
            }
        }
        else
        {
            if (body.Length > settings.MaxImageBytes) return ImageTooLarge("body", body.Length, settings);
            images.Add(("body", Bytes(body)));
        }

        // One version of the model answers the whole request, even if a new one comes into service meanwhile.
        using var lease = pool.Borrow(ServeSettings.ModelName);
        var results = new List<ImageResult>(images.Count);
        foreach (var (name, bytes) in images)
        {
            long start = Stopwatch.GetTimestamp();
            ImagePrediction prediction;
            try
            {
                prediction = lease.Model.Predict(bytes, name);
            }
            catch (InvalidDataException e)
            {
                return Problem(StatusCodes.Status400BadRequest, e.Message);
            }
            var summary = lease.Model.Summarize(prediction);
            results.Add(new ImageResult(name, summary.Label, summary.Probability, summary.Top, Stopwatch.GetElapsedTime(start).TotalMilliseconds));
        }
        return TypedResults.Ok(new PredictResponse(lease.Sha256, results));
    }

    /// <summary>The whole body (at position 0), or null once it passes <paramref name="limit"/> bytes.</summary>
    private static async Task<MemoryStream?> ReadBodyAsync(HttpRequest request, long limit, CancellationToken cancellation)
    {
        // With a declared length (the server holds the body to it) the buffer is allocated once, at that size.
        var all = new MemoryStream(request.ContentLength is { } declared && declared <= limit ? (int)declared : 0);
        var chunk = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, cancellation)) > 0)
            {
                if (all.Length + read > limit)
                {
                    all.Dispose();
                    return null;
                }
                all.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        all.Position = 0;
        return all;
    }

    /// <summary>The stream's bytes: its own buffer when that is exactly their size, else a copy.</summary>
    private static byte[] Bytes(MemoryStream stream) =>
        stream.TryGetBuffer(out var buffer) && buffer.Offset == 0 && buffer.Count == buffer.Array!.Length ? buffer.Array : stream.ToArray();

    private static IResult RequestTooLarge(ServeSettings settings) =>
        Problem(StatusCodes.Status413PayloadTooLarge, $"the request is larger than {settings.MaxRequestBytes} bytes");

    private static IResult ImageTooLarge(string name, long length, ServeSettings settings) =>
        Problem(StatusCodes.Status413PayloadTooLarge, $"{name}: {length} bytes; images of at most {settings.MaxImageBytes} bytes are accepted");

    private static IResult Problem(int status, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: ReasonPhrases.GetReasonPhrase(status));

    private static IReadOnlyList<RunSummary> ListRuns(ServeSettings settings) =>
        FindRuns(settings).Select(run => new RunSummary(run.Key,
            // Not an object (an array, a number) reads as no epochs: indexing another node by name would throw.
            (JsonFiles.TryRead(Path.Combine(run.Value, TrainCommand.MetricsJson)) as JsonObject)?["epochs"] as JsonArray ?? new JsonArray(),
            Plots.Where(plot => File.Exists(Path.Combine(run.Value, plot.File)))
                .ToDictionary(plot => plot.Kind, plot => $"/api/runs/{Uri.EscapeDataString(run.Key)}/{plot.Kind}.png"))).ToList();

    private static IResult GetPlot(string run, string kind, ServeSettings settings)
    {
        // The request names a run and a plot; the path is built only from what was listed on disk, never from the request.
        if (Plots.FirstOrDefault(plot => plot.Kind == kind).File is not { } plotFile)
            return Problem(StatusCodes.Status404NotFound, $"no such plot '{TextEscaping.ControlCharacters(kind)}' (plots: {string.Join(", ", Plots.Select(plot => plot.Kind))})");
        if (!FindRuns(settings).TryGetValue(run, out var folder)) return Problem(StatusCodes.Status404NotFound, $"no such run '{TextEscaping.ControlCharacters(run)}'");
        var file = Path.Combine(folder, plotFile);
        return File.Exists(file) ? TypedResults.PhysicalFile(file, "image/png") : Problem(StatusCodes.Status404NotFound, $"run '{run}' has no {kind} plot");
    }

    /// <summary>The runs under --runs by name: each folder holding metrics.json (the folder itself when it is a run).</summary>
    private static Dictionary<string, string> FindRuns(ServeSettings settings)
    {
        var runs = new Dictionary<string, string>(StringComparer.Ordinal);
        if (settings.RunsFolder is not { } root || !Directory.Exists(root)) return runs;
        static bool IsRun(string folder) => File.Exists(Path.Combine(folder, TrainCommand.MetricsJson));
        var full = Path.GetFullPath(root);
        if (IsRun(full)) runs[Path.GetFileName(full.TrimEnd(Path.DirectorySeparatorChar))] = full;
        foreach (var folder in Directory.EnumerateDirectories(full).Order(StringComparer.Ordinal))
            if (IsRun(folder)) runs.TryAdd(Path.GetFileName(folder), folder);
        return runs;
    }
}
