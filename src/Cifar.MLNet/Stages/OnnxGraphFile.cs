using Microsoft.ML;

namespace Cifar.MLNet.Stages;

/// <summary>
/// An ONNX graph written to a file in the context's temporary folder for ML.NET's ONNX transformer,
/// deleted when disposed. ML.NET copies a graph given as a stream into a temporary file of its own
/// that disposing the transformer does not remove; a file the caller owns is removed here.
/// </summary>
internal sealed class OnnxGraphFile : IDisposable
{
    public OnnxGraphFile(MLContext ml, byte[] onnx)
    {
        Path = System.IO.Path.Combine(ml.TempFilePath ?? System.IO.Path.GetTempPath(), $"cifar-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(Path, onnx);
    }

    /// <summary>The graph's file.</summary>
    public string Path { get; }

    /// <summary>Deletes the file; the transformer reading it must be disposed first.</summary>
    public void Dispose()
    {
        try { File.Delete(Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
