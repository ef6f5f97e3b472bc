namespace Cifar;

/// <summary>
/// Writes files whole or not at all: into <c>{target}.{guid}.tmp</c> beside the target, flushed to
/// disk, then renamed over it, so a crash or a full disk never leaves a half-written file (the
/// previous one stays). Every atomic write of the app goes through here.
/// </summary>
internal static class AtomicFile
{
    /// <summary>The suffix of temporary files; what is left with it after a kill is cleaned by the next write.</summary>
    public const string TempSuffix = ".tmp";

    /// <summary>Writes <paramref name="path"/> with what <paramref name="write"/> puts into the stream.</summary>
    /// <param name="path">The target file.</param>
    /// <param name="write">Writes the content; the stream is flushed and closed afterwards.</param>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var target = Path.GetFullPath(path);
        RemoveStrayTemps(target);
        var temp = TempPath(target);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, target, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 without a byte-order mark.</summary>
    public static void WriteText(string path, string text) =>
        Write(path, s =>
        {
            using var writer = new StreamWriter(s, new System.Text.UTF8Encoding(false), leaveOpen: true);
            writer.Write(text);
        });

    /// <summary>Writes <paramref name="bytes"/>.</summary>
    public static void WriteBytes(string path, byte[] bytes) => Write(path, s => s.Write(bytes));

    /// <summary>A fresh temporary name for <paramref name="target"/>: <c>{target}.{32 hex digits}.tmp</c>.</summary>
    public static string TempPath(string target) => $"{target}.{Guid.NewGuid():N}{TempSuffix}";

    /// <summary>
    /// Deletes temporary files of <paramref name="target"/> that a killed earlier write left behind
    /// (only names of the exact <see cref="TempPath"/> form, so nothing else is touched).
    /// </summary>
    public static void RemoveStrayTemps(string target)
    {
        var directory = Path.GetDirectoryName(target);
        var name = Path.GetFileName(target);
        if (string.IsNullOrEmpty(directory) || string.IsNullOrEmpty(name) || !Directory.Exists(directory)) return;
        // The name may hold wildcard characters; match it exactly here rather than in the pattern.
        foreach (var file in Directory.EnumerateFiles(directory, "*" + TempSuffix))
            if (IsTempOf(Path.GetFileName(file), name)) TryDelete(file);
    }

    private static bool IsTempOf(string candidate, string name)
    {
        int guidStart = name.Length + 1;
        if (candidate.Length != guidStart + 32 + TempSuffix.Length
            || !candidate.StartsWith(name + ".", StringComparison.Ordinal)
            || !candidate.EndsWith(TempSuffix, StringComparison.Ordinal)) return false;
        foreach (char c in candidate.AsSpan(guidStart, 32))
            if (!char.IsAsciiHexDigitLower(c)) return false;
        return true;
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
