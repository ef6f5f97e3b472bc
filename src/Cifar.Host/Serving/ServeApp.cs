using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cifar.Host.Cli;
using Cifar.MLNet;
using Cifar.MLNet.Prediction;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;

namespace Cifar.Host.Serving;

/// <summary>One image's prediction, as <c>POST /api/predict</c> answers it.</summary>
/// <param name="Name">The upload's file name (<c>body</c> for a raw image body).</param>
/// <param name="Label">The most probable class.</param>
/// <param name="Probability">Its probability.</param>
/// <param name="Top3">The three most probable classes, most probable first.</param>
/// <param name="Milliseconds">Time to decode and predict this image.</param>
internal sealed record ImageResult(string Name, string Label, float Probability, IReadOnlyList<ClassProbability> Top3, double Milliseconds);

/// <summary>The answer to <c>POST /api/predict</c>: the model version that predicted, and one result per image in upload order.</summary>
internal sealed record PredictResponse(string Sha256, IReadOnlyList<ImageResult> Predictions);

/// <summary>The image size the network takes.</summary>
internal sealed record InputSize(int Width, int Height, int Channels);

/// <summary>The answer to <c>GET /api/model</c>.</summary>
/// <param name="File">The model's file name.</param>
/// <param name="Sha256">SHA-256 of the zip in service.</param>
/// <param name="LoadedAt">When that version was loaded.</param>
/// <param name="Classes">Class names in score order.</param>
/// <param name="Input">The image size the network takes (any image is resized to it).</param>
/// <param name="Config">The run's config.json beside the zip when this version was loaded, when there was one.</param>
/// <param name="Quantization">How an int8 zip was made (<c>cifar quantize</c>): weight bits, calibration, source zip, both accuracies; null for float32.</param>
internal sealed record ModelInfo(string File, string Sha256, DateTimeOffset LoadedAt, IReadOnlyList<string> Classes, InputSize? Input, JsonElement? Config,
    ModelQuantization? Quantization);

/// <summary>One run folder, as <c>GET /api/runs</c> lists it.</summary>
/// <param name="Name">The folder's name.</param>
/// <param name="Epochs">metrics.json's per-epoch rows (empty when it is missing or unreadable).</param>
/// <param name="Plots">The URL of each plot the run has, by kind (loss, accuracy, confusion).</param>
internal sealed record RunSummary(string Name, JsonArray Epochs, IReadOnlyDictionary<string, string> Plots);

/// <summary>
/// <c>cifar serve</c>'s web app: the prediction API, the model's description, health, the OpenAPI
/// document, the runs listing and the static pages (wwwroot). Built on any <see cref="IWebHostBuilder"/>,
/// so the command (Kestrel) and the tests (an in-memory server) run the very same app.
/// </summary>
internal sealed class ServeApp
{
    private ServeApp() { }

    /// <summary>Adds the app's services and request pipeline to <paramref name="web"/>.</summary>
    public static void Configure(IWebHostBuilder web, ServeSettings settings)
    {
        web.ConfigureServices(services =>
        {
            services.AddRouting();
            services.AddProblemDetails();
            services.AddOpenApi(OpenApiDescription.Configure);
            services.AddSingleton(settings);
            services.AddSingleton(_ => new UploadBuffers(settings.MaxBufferedBytes, settings.ReleaseMemoryAfterIdle));
            services.AddSingleton(_ => new PredictionWorkers(settings.MaxConcurrentPredictions, settings.MaxQueuedPredictions));
            services.AddCifarModel(settings.ModelPath, watchForChanges: true);
        });
        web.Configure(app =>
        {
            app.UseProblemsAndHeaders();
            // The pages are resources of this assembly: a request's path is looked up among them, never on disk.
            var pages = new EmbeddedFileProvider(typeof(ServeApp).Assembly, "wwwroot");
            app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = pages });
            app.UseStaticFiles(new StaticFileOptions { FileProvider = pages });
            app.UseRouting();
            app.UseEndpoints(Map);
        });
    }

    private static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapOpenApi(OpenApiDescription.Route);
        endpoints.MapMethods("/health", [HttpMethods.Get, HttpMethods.Head], (CifarModelPool pool) =>
        {
            using var lease = pool.Borrow();
            return TypedResults.Ok(new { status = "ok", sha256 = lease.Sha256 });
        }).WithSummary("The server is up; the SHA-256 of the model in service.");
        endpoints.MapMethods("/api/model", [HttpMethods.Get, HttpMethods.Head], DescribeModel)
            .WithSummary("The model in service: classes, input size, SHA-256, training config.");
        endpoints.MapPost("/api/predict", PredictAsync)
            .WithSummary("Predicts each image: multipart/form-data files, or one image as the raw body.")
            .Accepts<IFormFileCollection>("multipart/form-data", OpenApiDescription.RawImageTypes) // others: 415
            .Produces<PredictResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .AddOpenApiOperationTransformer(OpenApiDescription.DescribeRawImageBody);
        endpoints.MapGet("/api/runs", RunsListing.List).WithSummary("The runs under --runs, with their per-epoch metrics and plots.");
        endpoints.MapGet("/api/runs/{run}/{kind}.png", RunsListing.GetPlot)
            .WithSummary("A run's loss, accuracy or confusion plot.")
            .Produces(StatusCodes.Status200OK, typeof(Stream), "image/png")
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    private static ModelInfo DescribeModel(CifarModelPool pool, ServeSettings settings)
    {
        using var lease = pool.Borrow();
        return new ModelInfo(Path.GetFileName(settings.ModelPath), lease.Sha256, lease.LoadedAt, lease.Model.ClassNames,
            lease.Model.ImageFormat is { } f ? new InputSize(f.Width, f.Height, f.Channels) : null, lease.TrainingConfig, lease.Model.Quantization);
    }

    /// <summary>
    /// Reads the images as they arrive (holding no prediction slot meanwhile), then predicts them on a worker; a full
    /// queue, or a wait past <see cref="ServeSettings.MaxPredictionWait"/>, is answered 503 with Retry-After.
    /// </summary>
    private static async Task<IResult> PredictAsync(HttpContext context, CifarModelPool pool, PredictionWorkers workers,
        UploadBuffers buffers, ServeSettings settings, CancellationToken cancellation)
    {
        try
        {
            using var uploads = await Uploads.ReadAsync(context.Request, settings, buffers, cancellation);
            var (outcome, result) = await workers.RunAsync(() => Predict(pool, uploads), settings.MaxPredictionWait, cancellation);
            return outcome switch
            {
                WorkOutcome.Done => result!,
                WorkOutcome.QueueFull => Busy(context, settings, $"{settings.MaxConcurrentPredictions} prediction requests are running and {settings.MaxQueuedPredictions} waiting"),
                _ => Busy(context, settings, $"no prediction worker was free within {settings.MaxPredictionWait.TotalSeconds:0.#} s"),
            };
        }
        catch (UploadRefused refused)
        {
            return refused.Status == StatusCodes.Status503ServiceUnavailable ? Busy(context, settings, null, refused.Message) : Problems.Create(refused.Status, refused.Message);
        }
    }

    private static IResult Busy(HttpContext context, ServeSettings settings, string? why, string? detail = null)
    {
        context.Response.Headers.RetryAfter = settings.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problems.Create(StatusCodes.Status503ServiceUnavailable, detail ?? $"the server is busy: {why}; try again shortly");
    }

    /// <summary>Predicts every image with one version of the model, even if a new one comes into service meanwhile.</summary>
    private static IResult Predict(CifarModelPool pool, Uploads uploads)
    {
        using var lease = pool.Borrow();
        var results = new List<ImageResult>();
        foreach (var image in uploads.Images)
        {
            long start = Stopwatch.GetTimestamp();
            ImagePrediction prediction;
            try
            {
                using var bytes = image.Bytes.OpenRead();
                prediction = lease.Model.Predict(bytes, TextEscaping.ControlCharacters(image.Name));
            }
            catch (InvalidDataException e)
            {
                return Problems.Create(StatusCodes.Status400BadRequest, e.Message);
            }
            var summary = lease.Model.Summarize(prediction);
            results.Add(new ImageResult(image.Name, summary.Label, summary.Probability, summary.Top, Stopwatch.GetElapsedTime(start).TotalMilliseconds));
        }
        return TypedResults.Ok(new PredictResponse(lease.Sha256, results));
    }
}
