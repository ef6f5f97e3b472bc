using Cifar.MLNet.Export;
using Cifar.MLNet.Prediction;
using Cifar.Tests;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Cifar.Host.Tests;

/// <summary><c>cifar export</c> on the tiny run's model: the file it writes scores as the zip does; bad paths are one-line errors.</summary>
public class ExportCommandTests(TrainRun run) : IClassFixture<TrainRun>
{
    private static string Refused(TestData.TempFolder dir, HostRun.Result result)
    {
        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}: {result.Errors}");
        Assert.Equal("", result.Output);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.onnx*", SearchOption.AllDirectories));
        return HostRun.OneLineError(result);
    }

    [Fact]
    public void Export_writes_an_ONNX_file_that_ONNX_Runtime_scores_as_the_zip_predicts()
    {
        using var dir = new TestData.TempFolder();
        var result = HostRun.Run("export", "--model", run.Model, "--onnx", dir.File("model.onnx"));
        Assert.True(result.ExitCode == 0, result.Errors);
        Assert.StartsWith($"wrote {dir.File("model.onnx")}\n  input  pixels: float32 [N,3,32,32], NCHW RGB, values 0-255;", result.Output.ReplaceLineEndings("\n"));

        // A lossless image whose pixels the test knows: fed as they are, they must score what the zip predicts for the file.
        TestImages.WriteBmp(dir.File("pattern.bmp"), 32, 32, TestImages.Pattern);
        var pixels = new DenseTensor<float>([1, 3, 32, 32]);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                (pixels[0, 0, y, x], pixels[0, 1, y, x], pixels[0, 2, y, x]) = TestImages.Pattern(x, y);
        using var session = new InferenceSession(dir.File("model.onnx"));
        using var outputs = session.Run([NamedOnnxValue.CreateFromTensor(CifarOnnxExport.InputName, pixels)]);
        var probabilities = outputs.Single(o => o.Name == CifarOnnxExport.ProbabilitiesName).AsTensor<float>().ToArray();
        using var zip = CifarModel.Load(run.Model);
        var expected = zip.Predict(dir.File("pattern.bmp"));
        Assert.Equal(expected.Score.Length, probabilities.Length);
        for (int c = 0; c < probabilities.Length; c++) Assert.Equal(expected.Score[c], probabilities[c], 1e-5);
        Assert.Equal(expected.PredictedLabel, outputs.Single(o => o.Name == CifarOnnxExport.LabelName).AsTensor<string>().Single());
    }

    [Fact]
    public void A_file_that_is_not_a_Cifar_model_zip_is_refused_in_one_line()
    {
        using var dir = new TestData.TempFolder();
        File.WriteAllText(dir.File("model.zip"), "not a zip");
        Assert.StartsWith($"error: {dir.File("model.zip")}: not a readable ML.NET model zip",
            Refused(dir, HostRun.Run("export", "--model", dir.File("model.zip"), "--onnx", dir.File("out.onnx"))));
        Assert.Equal($"error: {dir.File("none.zip")}: model file not found",
            Refused(dir, HostRun.Run("export", "--model", dir.File("none.zip"), "--onnx", dir.File("out.onnx"))));
    }

    [Fact]
    public void An_output_in_a_missing_folder_or_that_is_a_folder_is_refused_in_one_line()
    {
        using var dir = new TestData.TempFolder();
        Assert.Equal($"error: {dir.File("missing/out.onnx")}: folder {dir.File("missing")} does not exist",
            Refused(dir, HostRun.Run("export", "--model", run.Model, "--onnx", dir.File("missing/out.onnx"))));
        Directory.CreateDirectory(dir.File("out"));
        Assert.Equal($"error: {dir.File("out")}: is a folder; give the path of the ONNX file to write",
            Refused(dir, HostRun.Run("export", "--model", run.Model, "--onnx", dir.File("out"))));
        Assert.Empty(Directory.GetFileSystemEntries(dir.File("out")));
        Assert.Equal("error: export: --onnx is required", Refused(dir, HostRun.Run("export", "--model", run.Model)));
    }
}
