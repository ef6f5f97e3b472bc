using System.Globalization;
using Cifar.Host.Cli;
using Cifar.MLNet.Export;

namespace Cifar.Host.Commands;

/// <summary><c>cifar export</c>: a model zip as one standalone ONNX file (see <see cref="CifarOnnxExport"/>).</summary>
internal static class ExportCommand
{
    public static int Run(string modelPath, string onnxPath, TextWriter output)
    {
        OnnxExportSummary summary;
        try
        {
            summary = CifarOnnxExport.Write(modelPath, onnxPath);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            // FileNotFoundException and DirectoryNotFoundException are IOExceptions: every message names its path.
            throw new UserError(e.Message, e);
        }
        var shape = string.Join(",", summary.InputShape.Select(d => d < 0 ? "N" : d.ToString(CultureInfo.InvariantCulture)));
        output.WriteLine($"wrote {summary.Path}");
        output.WriteLine($"  input  {CifarOnnxExport.InputName}: float32 [{shape}], {summary.Metadata["layout"]} {summary.Metadata["channel_order"]}, values {summary.Metadata["pixel_range"]}; {summary.Metadata["resize"]}");
        // A caller with colour images must compute the grey as the zip does: say how, where the input is grey.
        if (summary.Metadata["grey_weights"] != "null") output.WriteLine($"  grey   {summary.Metadata["grey"]}");
        output.WriteLine($"  output {CifarOnnxExport.ProbabilitiesName}: float32 [N,{summary.ClassNames.Count}]; {CifarOnnxExport.LabelName}: string [N]");
        output.WriteLine($"  classes {string.Join(", ", summary.ClassNames.Select(TextEscaping.Field))}; normalization {Normalization(summary.Metadata)}; test-time views {summary.TestTimeViews}");
        return ExitCodes.Success;
    }

    /// <summary>Mean and std where the graph normalizes per channel, else the metadata's words for what it does.</summary>
    private static string Normalization(IReadOnlyDictionary<string, string> metadata) =>
        metadata["mean"] is "null" or "" ? metadata["normalization"] : $"mean {metadata["mean"]} std {metadata["std"]} (inside the graph)";
}
