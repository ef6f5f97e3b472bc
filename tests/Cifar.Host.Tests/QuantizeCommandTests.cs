using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Cifar.Host.Serving;
using Cifar.MLNet.Prediction;
using Cifar.Tests;

namespace Cifar.Host.Tests;

/// <summary><c>cifar quantize</c> on the tiny run's model: the int8 zip it writes loads, serves and says how it was made; bad input is one line.</summary>
public class QuantizeCommandTests(TrainRun run) : IClassFixture<TrainRun>
{
    private string[] Quantize(string output, params string[] more) =>
        ["quantize", "--model", run.Model, "--output", output, "--data", run.DataRoot, .. more.Contains("--calibration-images") ? more : [.. more, "--calibration-images", "16"]];

    [Fact]
    public async Task Quantize_writes_an_int8_zip_that_predicts_and_that_serve_describes()
    {
        Assert.True(run.Result.ExitCode == 0, run.Result.Errors);
        using var dir = new TestData.TempFolder();
        var int8Path = dir.File("int8.zip");
        // The tiny model is near chance: any loss is allowed here; the check is still measured and reported.
        var result = HostRun.Run(Quantize(int8Path, "--max-accuracy-drop", "100"));
        Assert.True(result.ExitCode == 0, result.Errors);
        var lines = result.Output.ReplaceLineEndings("\n").TrimEnd().Split('\n');
        Assert.Equal($"{run.Model}: calibrating on 16 training images of {run.DataRoot}, then scoring both models on 20 test images", lines[0]);
        Assert.Matches(@"^wrote .*int8\.zip: int8 \([78]-bit weights\), calibrated on 16 images; accuracy on 20 test images: float32 \d+\.\d\d %, int8 \d+\.\d\d % \([+-]?\d+\.\d\d points, at most -100 allowed\)$", lines[1]);

        using (var model = CifarModel.Load(int8Path))
        {
            Assert.Equal(("int8", 16, 20), (model.Quantization!.Precision, model.Quantization.CalibrationImages, model.Quantization.CheckImages));
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(run.Model))), model.Quantization.SourceSha256);
        }

        using var app = new ServeFactory(new ServeSettings(int8Path, null));
        using var client = app.CreateClient();
        using var response = await client.GetAsync("/api/model");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var quantization = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("quantization");
        Assert.Equal("int8", quantization.GetProperty("precision").GetString());
        Assert.Equal(16, quantization.GetProperty("calibrationImages").GetInt32());
        Assert.InRange(quantization.GetProperty("int8Accuracy").GetDouble(), 0, 1);

        // Served as a float32 model, the same field is null.
        using var floatApp = new ServeFactory(new ServeSettings(run.Model, null));
        using var floatClient = floatApp.CreateClient();
        var floatModel = JsonDocument.Parse(await floatClient.GetStringAsync("/api/model")).RootElement;
        Assert.Equal(JsonValueKind.Null, floatModel.GetProperty("quantization").ValueKind);
    }

    [Fact]
    public void Bad_options_and_paths_are_refused_in_one_line_and_nothing_is_written()
    {
        Assert.True(run.Result.ExitCode == 0, run.Result.Errors);
        using var dir = new TestData.TempFolder();
        string Refused(params string[] args)
        {
            var result = HostRun.Run(args);
            Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}: {result.Errors}");
            Assert.Empty(Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories));
            return HostRun.OneLineError(result);
        }
        var output = dir.File("int8.zip");
        Assert.Equal("error: --max-accuracy-drop must be a number of points, 0 or more (got 'abc')", Refused(Quantize(output, "--max-accuracy-drop", "abc")));
        Assert.Equal("error: --max-accuracy-drop must be a number of points, 0 or more (got '-1')", Refused(Quantize(output, "--max-accuracy-drop", "-1")));
        Assert.Equal("error: --max-accuracy-drop must be a number of points, 0 or more (got '-5e-1')", Refused(Quantize(output, "--max-accuracy-drop", "-5e-1")));
        Assert.Equal("error: --weight-bits must be 7 or 8 (got 9)", Refused(Quantize(output, "--weight-bits", "9")));
        Assert.Equal("error: --calibration-images must be 1 or more (got 0)", Refused(Quantize(output, "--calibration-images", "0")));
        Assert.Equal($"error: {run.Model}: is the model zip itself; give another path for the int8 model", Refused(Quantize(run.Model)));
        Assert.Equal($"error: {dir.File("none.zip")}: model file not found",
            Refused("quantize", "--model", dir.File("none.zip"), "--output", output, "--data", run.DataRoot));
        Assert.Equal("error: quantize: --output is required", Refused("quantize", "--model", run.Model));
    }
}
