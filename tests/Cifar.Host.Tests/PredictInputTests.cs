using System.Globalization;
using Cifar.MLNet.Prediction;
using Cifar.MLNet;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Transforms;

namespace Cifar.Host.Tests;

/// <summary>
/// Hostile inputs to predict and evaluate: each is refused with one line naming the input and
/// saying what is wrong with it (exit code 2), and machine-readable output stays one row per image.
/// </summary>
public class PredictInputTests : IClassFixture<TrainRun>
{
    private readonly TrainRun _run;

    public PredictInputTests(TrainRun run) => _run = run;

    private string Model => Path.Combine(_run.Output, "model.zip");

    private static string Refused(HostRun.Result result)
    {
        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}: {result.Errors}");
        Assert.Equal("", result.Output);
        return HostRun.OneLineError(result);
    }

    [Fact]
    public void An_image_declaring_a_huge_canvas_is_refused_from_its_header_by_predict_and_evaluate()
    {
        using var dir = new TestData.TempFolder();
        var huge = dir.File("huge.png");
        TestImages.WritePngDeclaring(huge, 100_000, 100_000);
        Assert.Equal($"error: {huge}: declares a 100000×100000 image, 10,000,000,000 pixels; images of more than 16,777,216 pixels (4096×4096) are refused before decoding",
            Refused(HostRun.Run("predict", "--model", Model, huge)));

        // evaluate reads image folders with the same check.
        foreach (var cls in Enumerable.Range(0, 10).Select(c => $"class{c}"))
        {
            Directory.CreateDirectory(Path.Combine(dir.File("data"), "test", cls));
            TestImages.WriteBmp(Path.Combine(dir.File("data"), "test", cls, "a.bmp"), 32, 32, TestImages.Pattern);
        }
        var inData = Path.GetFullPath(Path.Combine(dir.File("data"), "test", "class3", "huge.png"));
        File.Copy(huge, inData);
        // evaluate has said what it scores before it meets the file: that line only, then the error.
        var evaluated = HostRun.Run("evaluate", "--model", Model, "--data", dir.File("data"));
        Assert.Equal($"{Model} on {dir.File("data")} (test, 11 images)\n", evaluated.Output);
        Assert.StartsWith($"error: {inData}: declares a 100000×100000 image", Refused(evaluated with { Output = "" }));
    }

    [Fact]
    public void A_dangling_link_or_missing_file_is_not_found_not_undecodable()
    {
        using var dir = new TestData.TempFolder();
        Assert.Equal($"error: {dir.File("none.bmp")}: image file not found",
            Refused(HostRun.Run("predict", "--model", Model, dir.File("none.bmp"))));
        File.CreateSymbolicLink(dir.File("link.bmp"), dir.File("gone.bmp"));
        Assert.Equal($"error: {dir.File("link.bmp")}: image file not found (a symbolic link to {dir.File("gone.bmp")}, which does not exist)",
            Refused(HostRun.Run("predict", "--model", Model, dir.File("link.bmp"))));
        File.CreateSymbolicLink(dir.File("link.zip"), dir.File("gone.zip"));
        TestImages.WriteBmp(dir.File("a.bmp"), 32, 32, TestImages.Pattern);
        Assert.Equal($"error: {dir.File("link.zip")}: model file not found (a symbolic link to {dir.File("gone.zip")}, which does not exist)",
            Refused(HostRun.Run("predict", "--model", dir.File("link.zip"), dir.File("a.bmp"))));
        Directory.CreateDirectory(dir.File("folder.zip"));
        Assert.Equal($"error: {dir.File("folder.zip")}: is a folder, not a model file",
            Refused(HostRun.Run("predict", "--model", dir.File("folder.zip"), dir.File("a.bmp"))));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void An_unreadable_image_is_called_unreadable()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("permission bits are POSIX");
        using var dir = new TestData.TempFolder();
        var path = dir.File("secret.bmp");
        TestImages.WriteBmp(path, 32, 32, TestImages.Pattern);
        File.SetUnixFileMode(path, UnixFileMode.None);
        // Run where permissions hold even for root (predict checks its images on the calling thread).
        Assert.Equal($"error: {path}: image file cannot be read (permission denied)",
            Refused(WithoutFilePermissionOverride.Run(() => HostRun.Run("predict", "--model", Model, path))));
    }

    [Fact]
    public void A_model_whose_scores_are_not_probabilities_is_blamed_not_the_image()
    {
        using var dir = new TestData.TempFolder();
        var ml = new MLContext();
        var paths = ml.Data.LoadFromEnumerable(new[] { new ImageInput { ImagePath = "x" } });
        var model = ml.Transforms.LoadCifarImages()
            .Append(ml.Transforms.CustomMapping(new RawScores().GetMapping(), RawScores.ContractName))
            .Append(PredictedLabelMapping.Create(ml))
            .Append(ml.Transforms.DropColumns("PredictedLabelOnnx"))
            .Fit(paths);
        ml.Model.Save(model, paths.Schema, dir.File("raw.zip"));
        TestImages.WriteBmp(dir.File("a.bmp"), 32, 32, TestImages.Pattern);
        Assert.Equal($"error: {dir.File("raw.zip")}: not a usable Cifar model: the model's scores sum to 5, not 1: they are not probabilities (predicting {dir.File("a.bmp")})",
            Refused(HostRun.Run("predict", "--model", dir.File("raw.zip"), dir.File("a.bmp"))));
    }

    [Fact]
    public void Tabs_and_newlines_in_file_names_are_escaped_in_tsv_and_table_and_kept_in_json()
    {
        using var dir = new TestData.TempFolder();
        var names = new[] { dir.File("tab\there.bmp"), dir.File("new\nline.bmp"), dir.File(@"back\slash.bmp") };
        foreach (var name in names) TestImages.WriteBmp(name, 32, 32, TestImages.Pattern);
        var tsv = HostRun.Run(new[] { "predict", "--model", Model, "--format", "tsv" }.Concat(names).ToArray());
        Assert.True(tsv.ExitCode == 0, tsv.Errors);
        var rows = tsv.Output.TrimEnd('\n').Split('\n');
        Assert.Equal(3, rows.Length);
        Assert.All(rows, row => Assert.Equal(3, row.Split('\t').Length));
        Assert.Equal(new[] { dir.File(@"tab\there.bmp"), dir.File(@"new\nline.bmp"), dir.File(@"back\\slash.bmp") }, rows.Select(r => r.Split('\t')[0]));
        Assert.Equal(names, rows.Select(r => Unescape(r.Split('\t')[0])));

        var table = HostRun.Run(new[] { "predict", "--model", Model }.Concat(names).ToArray());
        Assert.Equal(4, table.Output.TrimEnd('\n').Split('\n').Length);

        var json = HostRun.Run(new[] { "predict", "--model", Model, "--format", "json" }.Concat(names).ToArray());
        using var doc = System.Text.Json.JsonDocument.Parse(json.Output);
        Assert.Equal(names, doc.RootElement.EnumerateArray().Select(e => e.GetProperty("path").GetString()));
    }

    [Fact]
    public void An_error_naming_a_file_with_a_newline_stays_one_line()
    {
        using var dir = new TestData.TempFolder();
        var name = dir.File("two\nlines.bmp");
        Assert.Equal($"error: {dir.File(@"two\nlines.bmp")}: image file not found", Refused(HostRun.Run("predict", "--model", Model, name)));
        File.WriteAllText(name, "not an image");
        Assert.Equal($"error: {dir.File(@"two\nlines.bmp")}: not an image that can be decoded (not a known image format)",
            Refused(HostRun.Run("predict", "--model", Model, name)));
    }

    [Fact]
    public async Task Predict_and_evaluate_leave_nothing_in_the_temporary_folder()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBmp(dir.File("a.bmp"), 32, 32, TestImages.Pattern);
        Directory.CreateDirectory(dir.File("tmp"));
        foreach (var args in new[]
                 {
                     new[] { "predict", "--model", Model, dir.File("a.bmp") },
                     new[] { "evaluate", "--model", Model, "--data", _run.DataRoot },
                 })
        {
            // A process of its own, so that its temporary folder holds only what it left there.
            var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "cifar.dll"));
            foreach (var arg in args) start.ArgumentList.Add(arg);
            start.Environment["TMPDIR"] = dir.File("tmp");
            start.Environment.Remove("ORT_DISABLE_TELEMETRY");
            using var process = System.Diagnostics.Process.Start(start)!;
            var errors = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.True(process.ExitCode == 0, await errors);
            Assert.Empty(Directory.GetFileSystemEntries(dir.File("tmp")));
        }
    }

    // The rule the help text gives: \\, \t, \n, \r and \u00XX.
    private static string Unescape(string field) => System.Text.RegularExpressions.Regex.Replace(field, @"\\(\\|t|n|r|u([0-9a-f]{4}))", m =>
        m.Groups[1].Value switch
        {
            "\\" => "\\", "t" => "\t", "n" => "\n", "r" => "\r",
            _ => ((char)int.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToString(),
        });

    /// <summary>A stand-in for a network: scores 2 and 3, which are not probabilities.</summary>
    [CustomMappingFactoryAttribute(ContractName)]
    public sealed class RawScores : CustomMappingFactory<RawScores.Input, RawScores.Output>
    {
        public const string ContractName = "Cifar.Tests.RawScores";

        public override Action<Input, Output> GetMapping() => (input, output) =>
        {
            output.Score = new[] { 2f, 3f };
            output.PredictedLabelOnnx = new[] { "b" };
        };

        public sealed class Input
        {
            [Microsoft.ML.Data.VectorType(3072)]
            public float[] Pixels { get; set; } = [];
        }

        public sealed class Output
        {
            [Microsoft.ML.Data.VectorType(2)]
            public float[] Score { get; set; } = [];

            [Microsoft.ML.Data.VectorType(1)]
            public string[] PredictedLabelOnnx { get; set; } = [];
        }
    }
}
