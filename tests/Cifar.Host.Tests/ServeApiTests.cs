using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Cifar.Host.Serving;
using Cifar.MLNet.Prediction;
using Cifar.Tests;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.ML;

namespace Cifar.Host.Tests;

/// <summary>Two tiny models of the same shape (seeds 1 and 2), for serving and for swapping one for the other.</summary>
public sealed class TwoModels : IDisposable
{
    public TrainRun First { get; } = new(seed: 1);
    public TrainRun Second { get; } = new(seed: 2);

    public void Dispose()
    {
        First.Dispose();
        Second.Dispose();
    }
}

/// <summary><c>cifar serve</c>'s app in memory (WebApplicationFactory), with the settings a test gives.</summary>
internal sealed class ServeFactory(ServeSettings settings, ILoggerProvider? logs = null) : WebApplicationFactory<ServeApp>
{
    protected override IHostBuilder CreateHostBuilder() =>
        new HostBuilder()
            .ConfigureLogging(logging =>
            {
                if (logs is not null) logging.AddProvider(logs);
            })
            .ConfigureWebHost(web => ServeApp.Configure(web, settings));
}

/// <summary>Keeps every log line (<c>Cifar.*</c> categories, or all of them) so that a test can wait for one.</summary>
internal sealed class LogLines(bool allCategories = false) : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _logged = new(0);

    private bool AllCategories { get; } = allCategories;

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    /// <summary>Waits (30 s at most), woken by each new line, until <paramref name="count"/> lines contain <paramref name="text"/>.</summary>
    public async Task WaitFor(string text, int count = 1)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (_lines.Count(l => l.Contains(text, StringComparison.Ordinal)) < count && DateTime.UtcNow < deadline)
            await _logged.WaitAsync(TimeSpan.FromSeconds(1));
        Assert.True(_lines.Count(l => l.Contains(text, StringComparison.Ordinal)) >= count,
            $"no {count}. log line with '{text}' within 30 s; logged: {string.Join(" | ", _lines)}");
    }

    private sealed class Logger(LogLines owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => owner.AllCategories || category.StartsWith("Cifar", StringComparison.Ordinal);
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            owner._lines.Enqueue($"{logLevel}: {category}: {formatter(state, exception)}{(exception is null ? "" : Environment.NewLine + exception)}");
            owner._logged.Release();
        }
    }
}

/// <summary>
/// The HTTP API in-process: predictions are <c>cifar predict</c>'s, every bad request gets its status
/// and a JSON problem, nothing a request names reaches the file system, and a model replaced under
/// load drops no request.
/// </summary>
public class ServeApiTests : IClassFixture<TwoModels>
{
    private readonly TwoModels _models;

    public ServeApiTests(TwoModels models) => _models = models;

    private ServeFactory Serve(string? model = null, string? runs = null, Func<ServeSettings, ServeSettings>? limits = null, ILoggerProvider? logs = null)
    {
        Assert.True(_models.First.Result.ExitCode == 0, _models.First.Result.Errors);
        var settings = new ServeSettings(model ?? _models.First.Model, runs);
        return new ServeFactory(limits?.Invoke(settings) ?? settings, logs);
    }

    /// <summary>Images the model has not seen: patterns in BMP and PNG-free formats the tests can write.</summary>
    private static List<string> WriteImages(TestData.TempFolder dir, int count)
    {
        var paths = new List<string>();
        for (int i = 0; i < count; i++)
        {
            var path = dir.File($"image{i}.bmp");
            TestImages.WriteBmp(path, 32 + i, 32, (x, y) => ((byte)(x * 7 + i * 40), (byte)(y * 5 + i * 13), (byte)((x ^ y) * 9 + i)));
            paths.Add(path);
        }
        return paths;
    }

    private static MultipartFormDataContent Form(params (string Name, byte[] Bytes)[] files)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, bytes) in files)
        {
            var part = new ByteArrayContent(bytes);
            part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            form.Add(part, "files", name);
        }
        return form;
    }

    private static async Task<JsonElement> Json(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    /// <summary>The response is the status wanted with a JSON problem whose detail starts as given; no stack trace.</summary>
    private static async Task<string> AssertProblem(HttpResponseMessage response, HttpStatusCode status, string detailStart)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("   at ", text);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.StartsWith(detailStart, detail);
        return detail;
    }

    [Fact]
    public async Task Predictions_are_those_of_cifar_predict_for_the_same_files()
    {
        using var dir = new TestData.TempFolder();
        var images = WriteImages(dir, 4);
        // One over several of the 64 KiB chunks an upload is read into (300×200 BMP: 180 KB).
        images.Add(dir.File("large.bmp"));
        TestImages.WriteBmp(images[^1], 300, 200, (x, y) => ((byte)(x * 3), (byte)(y * 5), (byte)((x ^ y) * 7)));
        var cli = HostRun.Run(new[] { "predict", "--model", _models.First.Model, "--format", "json" }.Concat(images).ToArray());
        Assert.True(cli.ExitCode == 0, cli.Errors);
        var expected = JsonDocument.Parse(cli.Output).RootElement.EnumerateArray().ToList();

        using var app = Serve();
        using var client = app.CreateClient();
        using var response = await client.PostAsync("/api/predict", Form(images.Select(p => (Path.GetFileName(p), File.ReadAllBytes(p))).ToArray()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = await Json(response);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(_models.First.Model))), answer.GetProperty("sha256").GetString());
        var predictions = answer.GetProperty("predictions").EnumerateArray().ToList();
        Assert.Equal(images.Count, predictions.Count);
        for (int i = 0; i < images.Count; i++)
        {
            Assert.Equal(Path.GetFileName(images[i]), predictions[i].GetProperty("name").GetString());
            Assert.Equal(expected[i].GetProperty("label").GetString(), predictions[i].GetProperty("label").GetString());
            Assert.Equal(expected[i].GetProperty("probability").GetSingle(), predictions[i].GetProperty("probability").GetSingle());
            var top3 = predictions[i].GetProperty("top3").EnumerateArray().Select(t => (t.GetProperty("label").GetString(), t.GetProperty("probability").GetSingle()));
            var cliTop3 = expected[i].GetProperty("top3").EnumerateArray().Select(t => (t.GetProperty("label").GetString(), t.GetProperty("probability").GetSingle()));
            Assert.Equal(cliTop3, top3);
            Assert.True(predictions[i].GetProperty("milliseconds").GetDouble() > 0);
        }

        // One image as the raw body: the same answer.
        using var raw = new ByteArrayContent(File.ReadAllBytes(images[2]));
        raw.Headers.ContentType = new MediaTypeHeaderValue("image/bmp");
        using var rawResponse = await client.PostAsync("/api/predict", raw);
        var single = (await Json(rawResponse)).GetProperty("predictions")[0];
        Assert.Equal("body", single.GetProperty("name").GetString());
        Assert.Equal(expected[2].GetProperty("label").GetString(), single.GetProperty("label").GetString());
        Assert.Equal(expected[2].GetProperty("probability").GetSingle(), single.GetProperty("probability").GetSingle());
    }

    [Fact]
    public async Task The_model_health_and_openapi_describe_what_is_served()
    {
        using var app = Serve();
        using var client = app.CreateClient();
        var model = await Json(await client.GetAsync("/api/model"));
        Assert.Equal("model.zip", model.GetProperty("file").GetString());
        Assert.Equal(Enumerable.Range(0, 10).Select(c => $"class{c}"), model.GetProperty("classes").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(32, model.GetProperty("input").GetProperty("width").GetInt32());
        Assert.Equal(3, model.GetProperty("input").GetProperty("channels").GetInt32());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(_models.First.Model))), model.GetProperty("sha256").GetString());
        // The run's config.json beside the zip: what it was trained with.
        Assert.Equal(2, model.GetProperty("config").GetProperty("Training").GetProperty("Epochs").GetInt32());
        Assert.Equal(1, model.GetProperty("config").GetProperty("Training").GetProperty("Seed").GetInt32());

        using var health = await client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ok", (await Json(health)).GetProperty("status").GetString());

        var openApi = await Json(await client.GetAsync("/openapi/v1.json"));
        var paths = openApi.GetProperty("paths");
        foreach (var path in new[] { "/api/predict", "/api/model", "/health", "/api/runs" })
            Assert.True(paths.TryGetProperty(path, out _), $"{path} missing from the OpenAPI document");
        Assert.True(paths.GetProperty("/api/predict").GetProperty("post").GetProperty("requestBody").GetProperty("content").TryGetProperty("multipart/form-data", out _));

        using var page = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<input id=\"files\" type=\"file\"", await page.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_model_description_pairs_each_version_with_the_config_it_was_loaded_with()
    {
        using var dir = new TestData.TempFolder();
        var served = dir.File("model.zip");
        File.Copy(_models.First.Model, served);
        File.Copy(Path.Combine(_models.First.Output, "config.json"), dir.File("config.json"));
        var logs = new LogLines();
        using var app = Serve(model: served, logs: logs);
        using var client = app.CreateClient();
        async Task<(string Sha256, int Seed)> Described()
        {
            var model = await Json(await client.GetAsync("/api/model"));
            return (model.GetProperty("sha256").GetString()!, model.GetProperty("config").GetProperty("Training").GetProperty("Seed").GetInt32());
        }
        string firstHash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(_models.First.Model)));
        string secondHash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(_models.Second.Model)));
        Assert.Equal((firstHash, 1), await Described());

        // A new train into the same folder writes its config.json at its start: the model in service keeps its own.
        File.Copy(Path.Combine(_models.Second.Output, "config.json"), dir.File("config.json"), overwrite: true);
        Assert.Equal((firstHash, 1), await Described());

        // Its model, at the end, comes into service with that config.
        File.Copy(_models.Second.Model, served + ".tmp");
        File.Move(served + ".tmp", served, overwrite: true);
        await logs.WaitFor("new model in service");
        Assert.Equal((secondHash, 2), await Described());
    }

    [Fact]
    public async Task Every_bad_request_gets_its_status_and_a_json_problem()
    {
        using var dir = new TestData.TempFolder();
        var image = File.ReadAllBytes(WriteImages(dir, 1)[0]); // 32×32 BMP: 3,126 bytes
        using var app = Serve(limits: s => s with { MaxImageBytes = 4_000, MaxRequestBytes = 10_000, MaxImages = 2 });
        using var client = app.CreateClient();

        await AssertProblem(await client.PostAsync("/api/predict", new ByteArrayContent([])), HttpStatusCode.BadRequest, "the request has no body");
        await AssertProblem(await client.PostAsync("/api/predict", Form(("notes.txt", "not an image"u8.ToArray()))),
            HttpStatusCode.BadRequest, "notes.txt: not an image that can be decoded");
        // A PNG signature over a broken header: named even when it follows a good image.
        byte[] brokenPng = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, (byte)'I', (byte)'H', (byte)'D', (byte)'R', 1, 2, 3];
        await AssertProblem(await client.PostAsync("/api/predict", Form(("a.bmp", image), ("broken.png", brokenPng))),
            HttpStatusCode.BadRequest, "broken.png: not an image that can be decoded");
        await AssertProblem(await client.PostAsync("/api/predict", Form(("empty.bmp", []))), HttpStatusCode.BadRequest, "empty.bmp: the file is empty");
        await AssertProblem(await client.PostAsync("/api/predict", Form(("a.bmp", image), ("b.bmp", image), ("c.bmp", image))),
            HttpStatusCode.BadRequest, "the request holds 3 files; at most 2 are accepted");
        var emptyForm = new MultipartFormDataContent { { new StringContent("x"), "field" } };
        await AssertProblem(await client.PostAsync("/api/predict", emptyForm), HttpStatusCode.BadRequest, "the form holds no files");

        var big = new byte[5_000];
        image.CopyTo(big, 0);
        await AssertProblem(await client.PostAsync("/api/predict", Form(("big.bmp", big))), HttpStatusCode.RequestEntityTooLarge,
            "big.bmp: 5000 bytes; images of at most 4000 bytes are accepted");
        await AssertProblem(await client.PostAsync("/api/predict", new ByteArrayContent(big) { Headers = { ContentType = new("image/bmp") } }),
            HttpStatusCode.RequestEntityTooLarge, "body: 5000 bytes");
        await AssertProblem(await client.PostAsync("/api/predict", new ByteArrayContent(new byte[12_000]) { Headers = { ContentType = new("image/png") } }),
            HttpStatusCode.RequestEntityTooLarge, "the request is larger than 10000 bytes");
        // Without a declared length (chunked), the body is cut off at the limit all the same.
        var chunked = new StreamContent(new MemoryStream(new byte[12_000])) { Headers = { ContentType = new("image/png") } };
        chunked.Headers.ContentLength = null;
        await AssertProblem(await client.PostAsync("/api/predict", chunked), HttpStatusCode.RequestEntityTooLarge, "the request is larger than 10000 bytes");
        var huge = dir.File("huge.png");
        TestImages.WritePngDeclaring(huge, 100_000, 100_000);
        await AssertProblem(await client.PostAsync("/api/predict", Form(("huge.png", File.ReadAllBytes(huge)))), HttpStatusCode.BadRequest,
            "huge.png: declares a 100000×100000 image");

        using var text = await client.PostAsync("/api/predict", new StringContent("hello"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);
        Assert.Equal("application/problem+json", text.Content.Headers.ContentType?.MediaType);
        using var missing = await client.GetAsync("/api/nothing");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_multipart_body_that_cannot_be_read_is_a_bad_request()
    {
        using var dir = new TestData.TempFolder();
        // A real photo when the data is here (as a client would post it), else a BMP: the body is what matters.
        var image = TestData.FindRoot() is { } root
            ? File.ReadAllBytes(Directory.EnumerateFiles(Path.Combine(root, "test", "cat")).Order(StringComparer.Ordinal).First())
            : File.ReadAllBytes(WriteImages(dir, 1)[0]);
        using var app = Serve();
        using var client = app.CreateClient();

        // A form cut off in the middle of its file: no closing boundary.
        using var form = Form(("a.jpg", image));
        var whole = await form.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        var truncated = new ByteArrayContent(whole[..(whole.Length / 2)]);
        truncated.Headers.ContentType = form.Headers.ContentType;
        await AssertProblem(await client.PostAsync("/api/predict", truncated, TestContext.Current.CancellationToken),
            HttpStatusCode.BadRequest, "the multipart body cannot be read");

        // A raw image declared as multipart: its boundary never comes.
        var mislabelled = new ByteArrayContent(image);
        mislabelled.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=x");
        await AssertProblem(await client.PostAsync("/api/predict", mislabelled, TestContext.Current.CancellationToken),
            HttpStatusCode.BadRequest, "the multipart body cannot be read");

        // A boundary no multipart reader buffers (RFC 2046 allows 70 characters).
        var longBoundary = new ByteArrayContent(whole);
        longBoundary.Headers.ContentType = MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={new string('b', 5_000)}");
        await AssertProblem(await client.PostAsync("/api/predict", longBoundary, TestContext.Current.CancellationToken),
            HttpStatusCode.BadRequest, "the multipart body cannot be read (its boundary is longer than 70 characters)");

        // The server is unharmed: a good request still succeeds.
        using var good = await client.PostAsync("/api/predict", Form(("a.jpg", image)), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
    }

    /// <summary>Occupies one of the app's prediction workers until released, so that a test knows what waits behind it.</summary>
    internal sealed class HeldWorker : IAsyncDisposable
    {
        private readonly TaskCompletionSource _running = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Task _work;

        private HeldWorker(PredictionWorkers workers) =>
            _work = workers.RunAsync(() =>
            {
                _running.SetResult();
                _release.Task.Wait();
                return 0;
            }, TimeSpan.FromMinutes(5), CancellationToken.None);

        public static async Task<HeldWorker> StartAsync(IServiceProvider services)
        {
            var held = new HeldWorker((PredictionWorkers)services.GetService(typeof(PredictionWorkers))!);
            await held._running.Task.WaitAsync(TimeSpan.FromSeconds(30));
            return held;
        }

        public async ValueTask DisposeAsync()
        {
            _release.TrySetResult();
            await _work.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    /// <summary>The app with one prediction worker and the given queue, a client, and one image to post to it.</summary>
    private sealed class OneWorker : IDisposable
    {
        private readonly ServeFactory _app;
        private readonly byte[] _image;

        public OneWorker(ServeApiTests tests, int queued, TimeSpan wait)
        {
            using (var dir = new TestData.TempFolder()) _image = File.ReadAllBytes(WriteImages(dir, 1)[0]);
            _app = tests.Serve(limits: s => s with { MaxConcurrentPredictions = 1, MaxQueuedPredictions = queued, MaxPredictionWait = wait });
            Client = _app.CreateClient();
        }

        public HttpClient Client { get; }

        public PredictionWorkers Workers => (PredictionWorkers)_app.Services.GetService(typeof(PredictionWorkers))!;

        /// <summary>Occupies the one worker until the result is disposed.</summary>
        public Task<HeldWorker> HoldAsync() => HeldWorker.StartAsync(_app.Services);

        public Task<HttpResponseMessage> Post() => Client.PostAsync("/api/predict", Form(("a.bmp", _image)), TestContext.Current.CancellationToken);

        public void Dispose()
        {
            Client.Dispose();
            _app.Dispose();
        }
    }

    [Fact]
    public async Task Prediction_requests_beyond_the_running_and_waiting_ones_are_refused_with_503()
    {
        using var app = new OneWorker(this, queued: 1, wait: TimeSpan.FromMinutes(1));
        var cancellation = TestContext.Current.CancellationToken;

        var held = await app.HoldAsync();
        var waiting = app.Post();
        Assert.True(SpinWait.SpinUntil(() => app.Workers.Waiting == 1, TimeSpan.FromSeconds(30)), "the request did not wait for the worker");
        // The one worker is busy and the one place in the queue taken: refused at once.
        using var refused = await app.Post().WaitAsync(TimeSpan.FromSeconds(30), cancellation);
        var detail = await AssertProblem(refused, HttpStatusCode.ServiceUnavailable, "the server is busy");
        Assert.Contains("1 prediction requests are running and 1 waiting", detail);
        Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
        Assert.False(waiting.IsCompleted, "the queued request was answered while the worker was busy");
        // Health, the model's description and the pages do not queue.
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/api/model", cancellation)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/health", cancellation)).StatusCode);

        await held.DisposeAsync();
        using var queued = await waiting.WaitAsync(TimeSpan.FromSeconds(30), cancellation);
        Assert.Equal(HttpStatusCode.OK, queued.StatusCode);
        using var after = await app.Post();
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task A_request_that_waits_longer_than_the_limit_for_a_worker_gets_503()
    {
        using var app = new OneWorker(this, queued: 4, wait: TimeSpan.FromMilliseconds(200));
        await using (await app.HoldAsync())
        {
            using var refused = await app.Post();
            await AssertProblem(refused, HttpStatusCode.ServiceUnavailable, "the server is busy: no prediction worker was free within 0.2 s");
            Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
        }
        // The withdrawn request was not predicted later: the worker is free and the queue holds nothing.
        using var good = await app.Post();
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        Assert.Equal(0, app.Workers.Waiting);
    }

    [Fact]
    public async Task The_runs_listing_serves_metrics_and_plots_and_no_path_a_request_names()
    {
        var runs = _models.First.Folder.Path; // holds the run folder "run" (and the data, which is no run)
        using var app = Serve(runs: runs);
        using var client = app.CreateClient();
        var listed = (await Json(await client.GetAsync("/api/runs"))).EnumerateArray().ToList();
        var run = Assert.Single(listed);
        Assert.Equal("run", run.GetProperty("name").GetString());
        var epochs = run.GetProperty("epochs").EnumerateArray().ToList();
        Assert.Equal([1, 2], epochs.Select(e => e.GetProperty("epoch").GetInt32()));
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(_models.First.Output, "metrics.json")));
        Assert.Equal(metrics.RootElement.GetProperty("epochs")[1].GetProperty("val_acc").GetDouble(), epochs[1].GetProperty("val_acc").GetDouble());
        foreach (var kind in new[] { "loss", "accuracy", "confusion" })
        {
            var url = run.GetProperty("plots").GetProperty(kind).GetString()!;
            using var plot = await client.GetAsync(url);
            Assert.Equal(HttpStatusCode.OK, plot.StatusCode);
            Assert.Equal("image/png", plot.Content.Headers.ContentType?.MediaType);
            Assert.Equal(File.ReadAllBytes(Path.Combine(_models.First.Output, $"{kind}.png")), await plot.Content.ReadAsByteArrayAsync());
        }

        // Names that would walk the file system are no run and no plot.
        File.WriteAllBytes(Path.Combine(runs, "secret.png"), [1, 2, 3]);
        foreach (var url in new[] { "/api/runs/..%2Frun/loss.png", "/api/runs/data/loss.png", "/api/runs/run/..%2F..%2Fsecret.png", "/api/runs/run/train.png",
                     $"/api/runs/{Uri.EscapeDataString(runs)}/loss.png", "/api/runs/run/model.png" })
        {
            using var refused = await client.GetAsync(url);
            Assert.True(HttpStatusCode.NotFound == refused.StatusCode, $"{url}: {(int)refused.StatusCode}");
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        }

        // Without --runs the listing is empty.
        using var bare = Serve();
        Assert.Empty((await Json(await bare.CreateClient().GetAsync("/api/runs"))).EnumerateArray());
    }

    [Fact]
    public async Task A_run_whose_metrics_are_not_an_object_is_listed_without_epochs()
    {
        using var dir = new TestData.TempFolder();
        foreach (var (run, metrics) in new[] { ("array", "[1, 2]"), ("number", "3"), ("broken", "{ not json"), ("no-epochs", """{ "epochs": 5 }""") })
        {
            Directory.CreateDirectory(dir.File(run));
            File.WriteAllText(Path.Combine(dir.File(run), "metrics.json"), metrics);
        }
        using var app = Serve(runs: dir.Path);
        using var client = app.CreateClient();
        using var response = await client.GetAsync("/api/runs", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var listed = (await Json(response)).EnumerateArray().ToList();
        Assert.Equal(["array", "broken", "no-epochs", "number"], listed.Select(r => r.GetProperty("name").GetString()));
        Assert.All(listed, r => Assert.Empty(r.GetProperty("epochs").EnumerateArray()));

        // A plot kind that is no plot is named escaped, as a run is.
        var detail = await AssertProblem(await client.GetAsync("/api/runs/array/a%0Ab.png", TestContext.Current.CancellationToken),
            HttpStatusCode.NotFound, "no such plot 'a\\nb'");
        Assert.DoesNotContain("\n", detail);
    }

    [Fact]
    public async Task Names_come_back_as_sent_escaped_once_by_json()
    {
        using var dir = new TestData.TempFolder();
        var image = File.ReadAllBytes(WriteImages(dir, 1)[0]);
        // Written by hand: a quoted file name with escaped quotes, and an RFC 5987 one with control characters.
        const string boundary = "b0undary";
        using var body = new MemoryStream();
        void Write(string text) => body.Write(System.Text.Encoding.UTF8.GetBytes(text));
        foreach (var disposition in new[] { "filename=\"say \\\"hi\\\".bmp\"", "filename*=UTF-8''line%0Abreak%09tab.bmp" })
        {
            Write($"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; {disposition}\r\nContent-Type: image/bmp\r\n\r\n");
            body.Write(image);
            Write("\r\n");
        }
        Write($"--{boundary}--\r\n");
        using var content = new ByteArrayContent(body.ToArray());
        content.Headers.ContentType = MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={boundary}");

        using var app = Serve();
        using var response = await app.CreateClient().PostAsync("/api/predict", content, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var names = JsonDocument.Parse(text).RootElement.GetProperty("predictions").EnumerateArray().Select(p => p.GetProperty("name").GetString());
        Assert.Equal(["say \"hi\".bmp", "line\nbreak\ttab.bmp"], names);
        Assert.DoesNotContain("\\\\", text); // JSON escapes once: no escaped backslash anywhere
    }

    [Fact]
    public async Task Every_error_is_problem_json_whatever_the_client_accepts_and_head_is_answered()
    {
        using var dir = new TestData.TempFolder();
        using var app = Serve();
        using var client = app.CreateClient();
        var cancellation = TestContext.Current.CancellationToken;
        using var html = new HttpRequestMessage(HttpMethod.Get, "/no/such/page");
        html.Headers.Accept.ParseAdd("text/html");
        await AssertProblem(await client.SendAsync(html, cancellation), HttpStatusCode.NotFound, "nothing at /no/such/page");
        await AssertProblem(await client.GetAsync("/openapi/v2.json", cancellation), HttpStatusCode.NotFound, "nothing at /openapi/v2.json");
        await AssertProblem(await client.DeleteAsync("/health", cancellation), HttpStatusCode.MethodNotAllowed, "DELETE is not allowed on /health");

        foreach (var url in new[] { "/health", "/api/model" })
        {
            using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, url), cancellation);
            Assert.True(HttpStatusCode.OK == head.StatusCode, $"HEAD {url}: {(int)head.StatusCode}");
            Assert.Equal("application/json", head.Content.Headers.ContentType?.MediaType); // Kestrel sends no body for HEAD
        }

        // One pixel over the limit: the message's two numbers differ.
        var wide = dir.File("wide.png");
        TestImages.WritePngDeclaring(wide, 4097, 4096);
        await AssertProblem(await client.PostAsync("/api/predict", Form(("wide.png", File.ReadAllBytes(wide))), cancellation), HttpStatusCode.BadRequest,
            "wide.png: declares a 4097×4096 image, 16,781,312 pixels; images of more than 16,777,216 pixels (4096×4096) are refused before decoding");
    }

    [Fact]
    public async Task Pages_and_answers_forbid_sniffing_and_framing_and_are_revalidated()
    {
        using var app = Serve();
        using var client = app.CreateClient();
        foreach (var url in new[] { "/", "/runs.html", "/predict.js", "/api/model", "/no/such/page" })
        {
            using var response = await client.GetAsync(url, TestContext.Current.CancellationToken);
            Assert.Equal("nosniff", string.Join(",", response.Headers.GetValues("X-Content-Type-Options")));
            Assert.Equal("DENY", string.Join(",", response.Headers.GetValues("X-Frame-Options")));
            Assert.Equal("frame-ancestors 'none'", string.Join(",", response.Headers.GetValues("Content-Security-Policy")));
            Assert.True(response.Headers.CacheControl?.NoCache == true, $"{url}: Cache-Control {response.Headers.CacheControl}");
        }
    }

    [Fact]
    public async Task The_openapi_document_describes_each_body_and_error_and_names_no_server()
    {
        using var app = Serve();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/openapi/v1.json");
        request.Headers.Host = "attacker.example:8666";
        using var response = await app.CreateClient().SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.DoesNotContain("attacker.example", text);
        var document = JsonDocument.Parse(text).RootElement;
        if (document.TryGetProperty("servers", out var servers)) Assert.Empty(servers.EnumerateArray());

        var predict = document.GetProperty("paths").GetProperty("/api/predict").GetProperty("post");
        var content = predict.GetProperty("requestBody").GetProperty("content");
        foreach (var type in new[] { "application/octet-stream", "image/*" })
        {
            var schema = content.GetProperty(type).GetProperty("schema");
            Assert.Equal("string", schema.GetProperty("type").GetString());
            Assert.Equal("binary", schema.GetProperty("format").GetString());
        }
        Assert.NotEqual("string", content.GetProperty("multipart/form-data").GetProperty("schema").TryGetProperty("type", out var form) ? form.GetString() : null);
        Assert.Equal(["200", "400", "413", "415", "503"], predict.GetProperty("responses").EnumerateObject().Select(r => r.Name).Order());
        var plot = document.GetProperty("paths").GetProperty("/api/runs/{run}/{kind}.png").GetProperty("get").GetProperty("responses");
        var png = plot.GetProperty("200").GetProperty("content").GetProperty("image/png").GetProperty("schema");
        if (png.TryGetProperty("$ref", out var reference)) png = document.GetProperty("components").GetProperty("schemas").GetProperty(reference.GetString()!.Split('/')[^1]);
        Assert.Equal("binary", png.GetProperty("format").GetString());
        Assert.True(plot.GetProperty("404").GetProperty("content").TryGetProperty("application/problem+json", out _));
    }

    [Fact]
    public async Task Symbolic_links_in_the_runs_folder_are_neither_listed_nor_served()
    {
        using var dir = new TestData.TempFolder();
        using var elsewhere = new TestData.TempFolder();
        var secret = elsewhere.File("secret.png");
        File.WriteAllBytes(secret, [1, 2, 3]);
        var outsideRun = elsewhere.File("outside");
        Directory.CreateDirectory(outsideRun);
        File.WriteAllText(Path.Combine(outsideRun, "metrics.json"), """{ "epochs": [] }""");
        File.Copy(secret, Path.Combine(outsideRun, "loss.png"));

        var runs = dir.File("runs");
        var run = Path.Combine(runs, "a");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, "metrics.json"), """{ "epochs": [] }""");
        File.WriteAllBytes(Path.Combine(run, "loss.png"), [9, 9, 9]);
        File.CreateSymbolicLink(Path.Combine(run, "accuracy.png"), secret);
        Directory.CreateSymbolicLink(Path.Combine(runs, "linked"), outsideRun);
        Directory.CreateDirectory(Path.Combine(runs, "linked-metrics"));
        File.CreateSymbolicLink(Path.Combine(runs, "linked-metrics", "metrics.json"), Path.Combine(outsideRun, "metrics.json"));

        using var app = Serve(runs: runs);
        using var client = app.CreateClient();
        var cancellation = TestContext.Current.CancellationToken;
        var listed = Assert.Single((await Json(await client.GetAsync("/api/runs", cancellation))).EnumerateArray());
        Assert.Equal("a", listed.GetProperty("name").GetString());
        Assert.Equal(["loss"], listed.GetProperty("plots").EnumerateObject().Select(p => p.Name));
        Assert.Equal([9, 9, 9], await client.GetByteArrayAsync("/api/runs/a/loss.png", cancellation));
        foreach (var url in new[] { "/api/runs/a/accuracy.png", "/api/runs/linked/loss.png", "/api/runs/linked-metrics/loss.png" })
        {
            using var refused = await client.GetAsync(url, cancellation);
            Assert.True(HttpStatusCode.NotFound == refused.StatusCode, $"{url}: {(int)refused.StatusCode}");
        }
    }

    [Fact]
    public async Task A_run_with_a_string_where_a_number_belongs_is_shown_and_so_is_every_run_after_it()
    {
        using var dir = new TestData.TempFolder();
        foreach (var (run, accuracy) in new[] { ("a", "\"high\""), ("b", "0.5") })
        {
            Directory.CreateDirectory(dir.File(run));
            File.WriteAllText(Path.Combine(dir.File(run), "metrics.json"),
                $$"""{ "epochs": [ { "epoch": 1, "train_loss": 1.5, "val_acc": {{accuracy}} }, "not a row" ] }""");
        }
        using var app = Serve(runs: dir.Path);
        var listing = await app.CreateClient().GetStringAsync("/api/runs", TestContext.Current.CancellationToken);
        var runs = JsonDocument.Parse(listing).RootElement.EnumerateArray().ToList();
        Assert.Equal(["a", "b"], runs.Select(r => r.GetProperty("name").GetString()));
        Assert.All(runs, r => Assert.Single(r.GetProperty("epochs").EnumerateArray())); // rows that are no object are left out
        Assert.Equal(0.5, runs[1].GetProperty("epochs")[0].GetProperty("val_acc").GetDouble());

        // The page's own script renders that listing (node, with the few DOM calls it makes stubbed).
        var rendered = RunsPageScript.Render(dir, listing);
        Assert.Equal("2 run(s).", rendered.GetProperty("status").GetString());
        var tables = rendered.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(["a", "b"], tables.Select(t => t.GetProperty("name").GetString()));
        Assert.Equal(["1", "1.5000", "", "", "high", ""], tables[0].GetProperty("rows")[0].EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(["1", "1.5000", "", "", "50.0 %", ""], tables[1].GetProperty("rows")[0].EnumerateArray().Select(c => c.GetString()));
    }

    [Fact]
    public async Task A_model_replaced_under_concurrent_requests_drops_none_and_new_requests_get_the_new_model()
    {
        using var dir = new TestData.TempFolder();
        var image = WriteImages(dir, 1)[0];
        byte[] first = File.ReadAllBytes(_models.First.Model), second = File.ReadAllBytes(_models.Second.Model);
        string firstHash = Convert.ToHexStringLower(SHA256.HashData(first)), secondHash = Convert.ToHexStringLower(SHA256.HashData(second));
        var expected = new Dictionary<string, float[]>();
        foreach (var (hash, zip) in new[] { (firstHash, _models.First.Model), (secondHash, _models.Second.Model) })
        {
            using var model = CifarModel.Load(zip);
            expected[hash] = model.Predict(image).Score;
        }
        Assert.NotEqual(expected[firstHash], expected[secondHash]);

        var served = dir.File("model.zip");
        File.WriteAllBytes(served, first);
        using var app = Serve(model: served);
        using var client = app.CreateClient();
        var answers = new ConcurrentQueue<(HttpStatusCode Status, string Body)>();
        var seen = new ConcurrentDictionary<string, int>();
        using var answered = new SemaphoreSlim(0); // released per answer: the waits below wake on answers, not on a timer
        using var stop = new CancellationTokenSource();
        var bytes = File.ReadAllBytes(image);
        var clients = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested && answers.Count < 20_000)
            {
                using var response = await client.PostAsync("/api/predict", Form(("image.bmp", bytes)));
                var body = await response.Content.ReadAsStringAsync();
                answers.Enqueue((response.StatusCode, body));
                if (response.IsSuccessStatusCode) seen.AddOrUpdate(JsonDocument.Parse(body).RootElement.GetProperty("sha256").GetString()!, 1, (_, n) => n + 1);
                answered.Release();
            }
        })).ToArray();

        async Task ReplaceAndWaitFor(byte[] zip, string hash)
        {
            // As train writes it: a new file renamed over the old.
            File.WriteAllBytes(served + ".tmp", zip);
            File.Move(served + ".tmp", served, overwrite: true);
            int before = seen.GetValueOrDefault(hash);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (seen.GetValueOrDefault(hash) < before + 20 && DateTime.UtcNow < deadline) await answered.WaitAsync(TimeSpan.FromSeconds(1));
            Assert.True(seen.GetValueOrDefault(hash) >= before + 20, $"requests did not move to {hash[..12]} within 30 s: "
                + string.Join(", ", answers.GroupBy(a => a.Status).Select(g => $"{g.Count()} × {(int)g.Key}"))
                + $"; {answers.FirstOrDefault(a => a.Status != HttpStatusCode.OK).Body}");
        }

        try
        {
            await ReplaceAndWaitFor(first, firstHash); // the same bytes: no swap, just the first 20 answers
            await ReplaceAndWaitFor(second, secondHash);
            await ReplaceAndWaitFor(first, firstHash);
            await ReplaceAndWaitFor(second, secondHash);
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(clients);
        }

        Assert.All(answers, a => Assert.True(a.Status == HttpStatusCode.OK, $"{(int)a.Status}: {a.Body}"));
        foreach (var (_, body) in answers)
        {
            // Each answer is the prediction of the model version it names.
            var root = JsonDocument.Parse(body).RootElement;
            var scores = expected[root.GetProperty("sha256").GetString()!];
            Assert.Equal(scores.Max(), root.GetProperty("predictions")[0].GetProperty("probability").GetSingle());
        }
        // After the last swap, the model description says so too.
        Assert.Equal(secondHash, (await Json(await client.GetAsync("/api/model"))).GetProperty("sha256").GetString());
        Assert.True(answers.Count > 80, $"only {answers.Count} requests");
    }

    [Fact]
    public async Task A_replacement_that_does_not_load_leaves_the_model_in_service()
    {
        using var dir = new TestData.TempFolder();
        var served = dir.File("model.zip");
        File.Copy(_models.First.Model, served);
        using var app = Serve(model: served);
        var pool = (CifarModelPool)app.Services.GetService(typeof(CifarModelPool))!;
        File.WriteAllText(served + ".tmp", "not a zip");
        File.Move(served + ".tmp", served, overwrite: true);
        Assert.Throws<InvalidDataException>(() => pool.Reload());
        var images = WriteImages(dir, 1);
        using var response = await app.CreateClient().PostAsync("/api/predict", Form(("a.bmp", File.ReadAllBytes(images[0]))));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(_models.First.Model))),
            (await Json(response)).GetProperty("sha256").GetString());
    }

    [Fact]
    public async Task A_replaced_model_is_disposed_after_its_last_lease_and_shutdown_waits_for_it()
    {
        using var dir = new TestData.TempFolder();
        var served = dir.File("model.zip");
        File.Copy(_models.First.Model, served);
        var image = File.ReadAllBytes(WriteImages(dir, 1)[0]);
        var app = Serve(model: served);
        CifarModel old;
        try
        {
            var pool = (CifarModelPool)app.Services.GetService(typeof(CifarModelPool))!;
            var lease = pool.Borrow();
            old = lease.Model;
            File.Copy(_models.Second.Model, served, overwrite: true);
            Assert.True(pool.Reload());
            old.Predict(image); // still held: still usable
            lease.Dispose(); // the last lease: hands the model to the retirement (its thread is ModelRetirementTests')
            await pool.RetirementsDone.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Throws<ObjectDisposedException>(() => old.Predict(image));

            // The model in service at shutdown: disposed by the time the app is.
            using var current = pool.Borrow();
            old = current.Model;
        }
        finally
        {
            app.Dispose();
        }
        Assert.Throws<ObjectDisposedException>(() => old.Predict(image));
    }

    /// <summary>The input of an ML.NET model that is no image classifier.</summary>
    public sealed class Row
    {
        public float A { get; set; }
    }

    [Fact]
    public async Task Replacements_that_do_not_load_through_the_watcher_leave_the_model_in_service_and_the_watcher_working()
    {
        using var dir = new TestData.TempFolder();
        var served = dir.File("model.zip");
        File.Copy(_models.First.Model, served);
        string firstHash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(_models.First.Model)));
        string secondHash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(_models.Second.Model)));
        // A valid ML.NET zip that is no image classifier: it takes a float column A, not an ImagePath.
        var ml = new MLContext(seed: 1);
        var rows = ml.Data.LoadFromEnumerable(new[] { new Row { A = 1 } });
        var other = dir.File("other.zip");
        ml.Model.Save(ml.Transforms.CopyColumns("B", "A").Fit(rows), rows.Schema, other);

        var logs = new LogLines();
        using var app = Serve(model: served, logs: logs);
        using var client = app.CreateClient();
        var image = File.ReadAllBytes(WriteImages(dir, 1)[0]);
        async Task<string> ServedHash()
        {
            using var response = await client.PostAsync("/api/predict", Form(("a.bmp", image)));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await Json(response)).GetProperty("sha256").GetString()!;
        }
        void Replace(byte[] bytes)
        {
            // As train writes it: a new file renamed over the old; the watcher, not the test, reloads.
            File.WriteAllBytes(served + ".tmp", bytes);
            File.Move(served + ".tmp", served, overwrite: true);
        }
        Assert.Equal(firstHash, await ServedHash());

        Replace(File.ReadAllBytes(other));
        await logs.WaitFor("the new file was not loaded", 1);
        Assert.Contains(logs.Lines, l => l.Contains("not a Cifar image classifier", StringComparison.Ordinal));
        Assert.Equal(firstHash, await ServedHash());

        Replace([0x50, 0x4B, 3, 4, 1, 2, 3]); // a zip's signature over garbage
        await logs.WaitFor("the new file was not loaded", 2);
        Assert.Equal(firstHash, await ServedHash());
        Assert.Equal(firstHash, (await Json(await client.GetAsync("/api/model"))).GetProperty("sha256").GetString());

        // The watcher still works: a good model is put in service.
        Replace(File.ReadAllBytes(_models.Second.Model));
        await logs.WaitFor("new model in service");
        Assert.Equal(secondHash, await ServedHash());
    }
}
