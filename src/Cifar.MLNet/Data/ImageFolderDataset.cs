namespace Cifar.MLNet.Data;

/// <summary>
/// Image folders: one folder per class, class names (and so label indices) in ordinal order of the folder
/// names. CIFAR-10's layout is <c>&lt;root&gt;/{train,test}/&lt;class&gt;/*</c>; <see cref="ImageFolderData"/>
/// also reads one folder of class folders and splits it.
/// </summary>
internal static class ImageFolderDataset
{
    /// <summary>File extensions taken as images (ImageAnalytics decodes these); other files are ignored.</summary>
    public static readonly IReadOnlySet<string> ImageExtensions =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp" };

    // Hidden entries (dot-files on Unix: .DS_Store, .ipynb_checkpoints) are not data. Unreadable folders
    // still throw: skipping them would silently lose a class.
    private static readonly EnumerationOptions Visible = new()
    {
        AttributesToSkip = FileAttributes.Hidden | FileAttributes.System,
        IgnoreInaccessible = false,
        RecurseSubdirectories = false,
    };

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
        var scanned = ScanClassFolders(folder);
        return (scanned.ClassNames, scanned.FilesByClass);
    }

    /// <summary>
    /// Lists the visible subfolders of <paramref name="folder"/> as classes (ordinal order of their names) and each
    /// one's image files (ordinal order). Hidden files and folders are skipped; other files that are not images, and
    /// subfolders of class folders, are ignored, the files counted.
    /// </summary>
    /// <exception cref="CifarDataException">There is no class folder, or a class folder has no image.</exception>
    public static ClassFolders ScanClassFolders(string folder)
    {
        var classFolders = Directory.GetDirectories(folder, "*", Visible).OrderBy(Path.GetFileName, StringComparer.Ordinal).ToArray();
        if (classFolders.Length == 0)
            throw new CifarDataException($"{folder}: no class folders (expected one folder per class)");
        var files = new List<IReadOnlyList<string>>();
        int ignored = 0;
        foreach (var classFolder in classFolders)
        {
            var all = Directory.GetFiles(classFolder, "*", Visible);
            var images = all.Where(f => ImageExtensions.Contains(Path.GetExtension(f))).OrderBy(f => f, StringComparer.Ordinal).ToArray();
            if (images.Length == 0) throw new CifarDataException($"{classFolder}: class folder has no image files");
            ignored += all.Length - images.Length;
            files.Add(images);
        }
        return new ClassFolders(classFolders.Select(f => Path.GetFileName(f)!).ToArray(), files, ignored);
    }
}

/// <summary>The classes of a folder of class folders and their image files.</summary>
/// <param name="ClassNames">The class folders' names, in ordinal order.</param>
/// <param name="FilesByClass">Each class's image files (full paths under the folder), in ordinal order.</param>
/// <param name="IgnoredFiles">Visible files in the class folders that are not images by their extension.</param>
internal sealed record ClassFolders(IReadOnlyList<string> ClassNames, IReadOnlyList<IReadOnlyList<string>> FilesByClass, int IgnoredFiles);
