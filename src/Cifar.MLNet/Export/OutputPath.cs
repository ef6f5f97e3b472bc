namespace Cifar.MLNet.Export;

/// <summary>The checks of a file a tool writes from a model zip, before any work: the export's ONNX file, the int8 zip.</summary>
internal static class OutputPath
{
    /// <param name="modelPath">The model zip read; the output must not be it.</param>
    /// <param name="outputPath">The file to write.</param>
    /// <param name="emptyName">What an empty path is called (<c>the output path</c>).</param>
    /// <param name="written">What is written there (<c>the model zip</c>), for a folder given instead.</param>
    /// <param name="product">What is made (<c>the int8 model</c>), for the model zip given as the output.</param>
    /// <exception cref="DirectoryNotFoundException">The path is empty, or its folder does not exist.</exception>
    /// <exception cref="IOException">The path is a folder, or the model zip itself.</exception>
    public static void Check(string modelPath, string outputPath, string emptyName, string written, string product)
    {
        if (outputPath.Length == 0) throw new DirectoryNotFoundException($"{emptyName} is empty");
        if (Directory.Exists(outputPath) || Path.EndsInDirectorySeparator(outputPath))
            throw new IOException($"{outputPath}: is a folder; give the path of {written} to write");
        var full = Path.GetFullPath(outputPath);
        if (Path.GetDirectoryName(full) is { } folder && !Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{outputPath}: folder {folder} does not exist");
        if (File.Exists(modelPath) && string.Equals(full, Path.GetFullPath(modelPath), StringComparison.Ordinal))
            throw new IOException($"{outputPath}: is the model zip itself; give another path for {product}");
    }
}
