using System.Net;
using System.Net.Sockets;
using Cifar.MLNet.Prediction;
using Cifar.Tests;
using Microsoft.Playwright;

namespace Cifar.Host.Tests;

/// <summary>
/// <c>cifar serve</c> for real (Kestrel on loopback) driven by a real browser: Debian's chromium through
/// Playwright (its own browser download is not reachable, so the system executable is launched).
/// Screenshots are kept as test artifacts. Without chromium, or if it cannot start, the test fails saying so: the page is
/// part of the product, and scripts/test.sh installs chromium (scripts/install-prerequisites.sh --tests).
/// </summary>
public class ServePageTests : IClassFixture<TrainRun>
{
    /// <summary>Debian's chromium (package <c>chromium</c>; scripts/install-prerequisites.sh --tests installs it).</summary>
    private const string Chromium = "/usr/bin/chromium";

    private readonly TrainRun _run;

    public ServePageTests(TrainRun run) => _run = run;

    [Fact]
    public async Task The_page_classifies_an_uploaded_image_and_the_runs_page_shows_the_plots()
    {
        Assert.True(_run.Result.ExitCode == 0, _run.Result.Errors);
        using var dir = new TestData.TempFolder();
        // A real photo when the data is here, else a pattern; the right label is what the model says of it.
        var image = TestData.FindRoot() is { } root
            ? Directory.EnumerateFiles(Path.Combine(root, "test", "cat")).Order(StringComparer.Ordinal).First()
            : dir.File("pattern.bmp");
        if (!File.Exists(image)) TestImages.WriteBmp(image, 32, 32, TestImages.Pattern);
        string expected;
        using (var model = CifarModel.Load(_run.Model)) expected = model.Predict(image).PredictedLabel;

        await using var server = await ServeProcess.StartAsync(_run.Model, _run.Folder.Path);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchChromium(playwright);
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1000, Height = 640 } });

        await page.GotoAsync(server.Url + "/");
        await page.SetInputFilesAsync("#files", image);
        var label = page.Locator(".card .label[data-label]");
        await label.WaitForAsync(new() { Timeout = 30_000 });
        Assert.Equal(expected, await label.TextContentAsync());
        Assert.Equal(3, await page.Locator(".card .bar").CountAsync());
        Assert.True(await page.Locator(".card img").EvaluateAsync<int>("img => img.naturalWidth") > 0);
        await Keep(page, "serve-classify.png");

        await page.GotoAsync(server.Url + "/runs.html");
        await page.WaitForFunctionAsync(
            "() => { const plots = [...document.querySelectorAll('.plots img')]; return plots.length === 3 && plots.every(i => i.complete); }",
            null, new() { Timeout = 30_000 });
        var widths = await page.Locator(".plots img").EvaluateAllAsync<int[]>("plots => plots.map(i => i.naturalWidth)");
        Assert.All(widths, width => Assert.True(width > 0, "a plot did not load"));
        Assert.Equal("run", await page.Locator(".run h2").TextContentAsync());
        Assert.Equal(3, await page.Locator(".run tr").CountAsync()); // header + 2 epochs
        await Keep(page, "serve-runs.png");
    }

    /// <summary>Debian's chromium under Playwright, or the test failed saying why it would not start.</summary>
    private static async Task<IBrowser> LaunchChromium(IPlaywright playwright)
    {
        Assert.True(File.Exists(Chromium), $"no chromium at {Chromium}: scripts/install-prerequisites.sh --tests installs it (apt-get install chromium)");
        try
        {
            return await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
        }
        catch (PlaywrightException e)
        {
            Assert.Fail($"{Chromium} could not be started by Playwright: {e.Message.Split('\n')[0]}");
            throw; // not reached: Fail throws
        }
    }

    [Fact]
    public async Task The_pages_say_what_went_wrong_instead_of_loading_forever()
    {
        Assert.True(_run.Result.ExitCode == 0, _run.Result.Errors);
        using var dir = new TestData.TempFolder();
        File.WriteAllText(dir.File("notes.txt"), "not an image");
        await using var server = await ServeProcess.StartAsync(_run.Model, _run.Folder.Path);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchChromium(playwright);
        var page = await browser.NewPageAsync();

        // A proxy's HTML error page instead of the JSON answers.
        await page.RouteAsync("**/api/model", route => route.FulfillAsync(new() { Status = 502, ContentType = "text/html", Body = "<h1>Bad gateway</h1>" }));
        await page.GotoAsync(server.Url + "/");
        var model = page.Locator("#model.error");
        await model.WaitForAsync(new() { Timeout = 30_000 });
        Assert.StartsWith("The model could not be described: 502", await model.TextContentAsync());

        // A file the server refuses: the card says so and the error names the file, from the problem's detail.
        await page.SetInputFilesAsync("#files", dir.File("notes.txt"));
        var error = page.Locator("#error:not([hidden])");
        await error.WaitForAsync(new() { Timeout = 30_000 });
        Assert.StartsWith("notes.txt: not an image that can be decoded", await error.TextContentAsync());
        Assert.Equal("refused", await page.Locator(".card .label").TextContentAsync());

        await page.RouteAsync("**/api/runs", route => route.FulfillAsync(new() { Status = 500, ContentType = "text/plain", Body = "oops" }));
        await page.GotoAsync(server.Url + "/runs.html");
        var status = page.Locator("#status.error");
        await status.WaitForAsync(new() { Timeout = 30_000 });
        Assert.StartsWith("The runs could not be listed: 500", await status.TextContentAsync());
    }

    [Fact]
    public void Serve_refuses_what_it_cannot_serve_in_one_line()
    {
        Assert.True(_run.Result.ExitCode == 0, _run.Result.Errors);
        using var dir = new TestData.TempFolder();
        File.WriteAllText(dir.File("notes.zip"), "not a zip");
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var takenUrl = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}";
        foreach (var (args, error) in new (string[], string)[]
        {
            (["serve"], "error: serve: --model is required"),
            (["serve", "--model", dir.File("none.zip")], $"error: {dir.File("none.zip")}: model file not found"),
            (["serve", "--model", dir.File("notes.zip")], $"error: {dir.File("notes.zip")}: not a readable ML.NET model zip"),
            (["serve", "--model", _run.Model, "--runs", dir.File("none")], $"error: --runs {dir.File("none")}: no such folder"),
            (["serve", "--model", _run.Model, "--urls", "notaurl"], "error: --urls notaurl: not a URL (Invalid url: 'notaurl')"),
            (["serve", "--model", _run.Model, "--urls", takenUrl], $"error: --urls {takenUrl}: Address already in use"),
        })
        {
            var result = HostRun.Run(args);
            Assert.True(result.ExitCode == 2, $"{string.Join(' ', args)}: exit {result.ExitCode}: {result.Errors}");
            Assert.StartsWith(error, HostRun.OneLineError(result));
        }
    }

    /// <summary>A full-page screenshot, kept under the tests' TestResults/screenshots and attached to the test's result.</summary>
    private static async Task Keep(IPage page, string name)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");
        Directory.CreateDirectory(folder);
        var bytes = await page.ScreenshotAsync(new() { Path = Path.Combine(folder, name), FullPage = true });
        TestContext.Current.AddAttachment(name, bytes, "image/png");
    }

    /// <summary><c>cifar serve</c> run in-process, as the command line runs it, on a free loopback port.</summary>
    private sealed class ServeProcess : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private Task<HostRun.Result> _running = Task.FromResult(new HostRun.Result(0, "", ""));

        public string Url { get; private init; } = "";

        public static async Task<ServeProcess> StartAsync(string model, string runs)
        {
            int port;
            using (var probe = new TcpListener(IPAddress.Loopback, 0))
            {
                probe.Start();
                port = ((IPEndPoint)probe.LocalEndpoint).Port;
            }
            var server = new ServeProcess { Url = $"http://127.0.0.1:{port}" };
            server._running = HostRun.RunAsync(["serve", "--model", model, "--runs", runs, "--urls", server.Url], server._stop.Token);
            using var client = new HttpClient();
            for (var deadline = DateTime.UtcNow.AddSeconds(60); ; await Task.Delay(100))
            {
                if (server._running.IsCompleted) Assert.Fail($"serve stopped: {(await server._running).Errors}");
                try
                {
                    if ((await client.GetAsync(server.Url + "/health")).IsSuccessStatusCode) return server;
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline)
                {
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            var result = await _running;
            Assert.True(result.ExitCode == 0, $"serve exit {result.ExitCode}: {result.Errors}");
            Assert.StartsWith("serving ", result.Output);
            _stop.Dispose();
        }
    }
}
