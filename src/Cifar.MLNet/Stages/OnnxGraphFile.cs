using Microsoft.ML;

namespace Cifar.MLNet.Stages;

/// <summary>
/// An ONNX graph written to a file in a context's temporary folder for ML.NET's ONNX transformer,
/// deleted when disposed. ML.NET copies a graph given as a stream into a temporary file of its own
/// that disposing the transformer does not remove; a file the caller owns is removed here.
/// </summary>
internal sealed class OnnxGraphFile : IDisposable
{
    /// <param name="folder">The context's <see cref="MLContext.TempFilePath"/>; null: the system's temporary folder.</param>
    /// <param name="onnx">The graph.</param>
    public OnnxGraphFile(string? folder, byte[] onnx)
    {
        Path = System.IO.Path.Combine(folder ?? System.IO.Path.GetTempPath(), $"cifar-{Guid.NewGuid():N}.onnx");
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
