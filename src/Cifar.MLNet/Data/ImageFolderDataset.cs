namespace Cifar.MLNet.Data;

/// <summary>
/// CIFAR-10 as image folders: <c>&lt;root&gt;/{train,test}/&lt;class&gt;/*</c>, one folder per class,
/// class names (and so label indices) in ordinal order of the folder names.
/// </summary>
public static class ImageFolderDataset
{
    /// <summary>File extensions taken as images (ImageAnalytics decodes these).</summary>
    public static readonly IReadOnlySet<string> ImageExtensions =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp" };

    /// <summary>The folder of one split under <paramref name="root"/>.</summary>
    public static string SplitFolder(string root, CifarSplit split) =>
        Path.Combine(root, split == CifarSplit.Train ? "train" : "test");

    /// <summary>Whether <paramref name="root"/> holds this layout for <paramref name="split"/>.</summary>
    public static bool Exists(string root, CifarSplit split) => Directory.Exists(SplitFolder(root, split));

    /// <summary>Lists the class names and each class's image files (ordinal order) of one split.</summary>
    /// <exception cref="CifarDataException">The split folder is missing, has no class folders, or a class folder has no image.</exception>
    public static (IReadOnlyList<string> ClassNames, IReadOnlyList<IReadOnlyList<string>> FilesByClass) Scan(string root, CifarSplit split)
    {
        var folder = SplitFolder(root, split);
        if (!Directory.Exists(folder))
            throw new CifarDataException($"{folder}: no such folder (expected <root>/{{train,test}}/<class>/*.jpg)");
        var classFolders = Directory.GetDirectories(folder).OrderBy(Path.GetFileName, StringComparer.Ordinal).ToArray();
        if (classFolders.Length == 0)
            throw new CifarDataException($"{folder}: no class folders (expected one folder per class)");
        var files = new List<IReadOnlyList<string>>();
        foreach (var classFolder in classFolders)
        {
            var images = Directory.EnumerateFiles(classFolder)
                .Where(f => ImageExtensions.Contains(Path.GetExtension(f)))
                .OrderBy(f => f, StringComparer.Ordinal)
                .ToArray();
            if (images.Length == 0) throw new CifarDataException($"{classFolder}: class folder has no image files");
            files.Add(images);
        }
        return (classFolders.Select(f => Path.GetFileName(f)!).ToArray(), files);
    }
}
