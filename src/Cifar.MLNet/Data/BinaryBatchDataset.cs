namespace Cifar.MLNet.Data;

/// <summary>
/// CIFAR-10's official binary release: <c>data_batch_1..5.bin</c> and <c>test_batch.bin</c>, each
/// record 1 label byte then 1024 red, 1024 green and 1024 blue bytes (row-major 32×32 planes);
/// class names one per line in <c>batches.meta.txt</c>.
/// </summary>
public static class BinaryBatchDataset
{
    /// <summary>Bytes per record: label + 3 × 32 × 32 pixels.</summary>
    internal const int RecordSize = 1 + CifarImage.Size;

    /// <summary>The class-names file.</summary>
    internal const string MetaFile = "batches.meta.txt";

    /// <summary>The batch files of one split, in reading order.</summary>
    internal static IReadOnlyList<string> BatchFiles(CifarSplit split) => split == CifarSplit.Train
        ? Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").ToArray()
        : new[] { "test_batch.bin" };

    /// <summary>
    /// The folder holding the batches: <paramref name="root"/> itself, or its
    /// <c>cifar-10-batches-bin</c> subfolder (as the official archive unpacks), or null.
    /// </summary>
    public static string? FindFolder(string root)
    {
        foreach (var candidate in new[] { root, Path.Combine(root, "cifar-10-batches-bin") })
            if (File.Exists(Path.Combine(candidate, MetaFile))) return candidate;
        return null;
    }

    /// <summary>The decoded records of one split.</summary>
    /// <param name="ClassNames">Class names from <c>batches.meta.txt</c>.</param>
    /// <param name="Labels">One class index per image.</param>
    /// <param name="Pixels">Image after image, each 3072 bytes channels first.</param>
    internal sealed record Records(IReadOnlyList<string> ClassNames, byte[] Labels, byte[] Pixels)
    {
        /// <summary>Number of images.</summary>
        public int Count => Labels.Length;
    }

    /// <summary>Reads every batch file of <paramref name="split"/> from <paramref name="folder"/>.</summary>
    /// <exception cref="CifarDataException">A file is missing, not a whole number of records, or has a label outside the class list.</exception>
    internal static Records Read(string folder, CifarSplit split)
    {
        var classNames = ReadClassNames(Path.Combine(folder, MetaFile));
        var labels = new List<byte>();
        using var pixels = new MemoryStream();
        foreach (var name in BatchFiles(split))
        {
            var path = Path.Combine(folder, name);
            var bytes = ReadAll(path, "batch file");
            if (bytes.Length == 0 || bytes.Length % RecordSize != 0)
                throw new CifarDataException(
                    $"{path}: {bytes.Length} bytes is not a whole number of {RecordSize}-byte records (truncated or not a CIFAR-10 batch)");
            for (int offset = 0, record = 0; offset < bytes.Length; offset += RecordSize, record++)
            {
                byte label = bytes[offset];
                if (label >= classNames.Count)
                    throw new CifarDataException(
                        $"{path}: record {record} has label {label}, but {MetaFile} names only {classNames.Count} classes");
                labels.Add(label);
                pixels.Write(bytes, offset + 1, CifarImage.Size);
            }
        }
        return new Records(classNames, labels.ToArray(), pixels.ToArray());
    }

    /// <summary>The file's bytes; a missing (or dangling), unreadable or folder path is a <see cref="CifarDataException"/>.</summary>
    private static byte[] ReadAll(string path, string what)
    {
        try
        {
            ImageFiles.RequireReadableFile(path, what);
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new CifarDataException(e is FileNotFoundException or UnauthorizedAccessException or InvalidDataException
                ? e.Message
                : $"{path}: {what} cannot be read ({ErrorText.FirstLine(e.Message)})");
        }
    }

    private static IReadOnlyList<string> ReadClassNames(string path)
    {
        using var text = new StreamReader(new MemoryStream(ReadAll(path, "class-names file")), detectEncodingFromByteOrderMarks: true);
        var names = text.ReadToEnd().Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length < 2) throw new CifarDataException($"{path}: needs at least 2 class names, one per line");
        if (names.Length > 256) throw new CifarDataException($"{path}: {names.Length} class names, but a label byte holds at most 256");
        return names;
    }
}
