using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Microsoft.ML;

namespace Cifar.MLNet.Data;

/// <summary>How a data root holds its image folders.</summary>
public enum ImageFolderLayout
{
    /// <summary><c>root/train/&lt;class&gt;/*</c> and <c>root/test/&lt;class&gt;/*</c> (CIFAR-10's): the test split validates.</summary>
    TrainAndTest,
    /// <summary><c>root/&lt;class&gt;/*</c>: split into training and validation per class, seeded.</summary>
    ClassFolders,
}

/// <summary>What <see cref="ImageFolderData.Load"/> read.</summary>
/// <param name="Train">The training rows: <c>Label</c> (key over <paramref name="ClassNames"/>) and <c>ImagePath</c>.</param>
/// <param name="Validation">The validation rows, with the same <c>Label</c> key type and key values.</param>
/// <param name="ClassNames">The classes, in ordinal order of their folder names (= key order).</param>
/// <param name="Layout">Which layout the root has.</param>
/// <param name="ValidationFraction">The share held out for validation, or null when the test split validates.</param>
/// <param name="SplitSeed">The split's seed, or null when the test split validates.</param>
/// <param name="IgnoredFiles">Visible files in class folders that are not images (by extension), not read.</param>
public sealed record ImageFolderSplits(
    IDataView Train, IDataView Validation, IReadOnlyList<string> ClassNames, ImageFolderLayout Layout,
    double? ValidationFraction, int? SplitSeed, int IgnoredFiles);

/// <summary>
/// Any folder of class folders as training and validation data: <c>root/train/&lt;class&gt;/*</c> with
/// <c>root/test/&lt;class&gt;/*</c>, or one <c>root/&lt;class&gt;/*</c> split per class. Class names are the
/// folder names, any names, in ordinal order; images are the files ending in .jpg, .jpeg, .png, .bmp, .gif or .webp
/// (any case); hidden files and folders are skipped.
/// </summary>
public static class ImageFolderData
{
    /// <summary>The most classes a data root may have.</summary>
    public const int MaximumClasses = 1000;

    /// <summary>
    /// The layout of <paramref name="root"/>: <see cref="ImageFolderLayout.TrainAndTest"/> when it has a
    /// <c>train</c> or <c>test</c> folder, <see cref="ImageFolderLayout.ClassFolders"/> when it has other visible
    /// folders, null when it has none (or is no folder).
    /// </summary>
    public static ImageFolderLayout? FindLayout(string root)
    {
        if (!Directory.Exists(root)) return null;
        if (ImageFolderDataset.Exists(root, CifarSplit.Train) || ImageFolderDataset.Exists(root, CifarSplit.Test)) return ImageFolderLayout.TrainAndTest;
        bool anyFolder = new DirectoryInfo(root).EnumerateDirectories()
            .Any(d => (d.Attributes & (FileAttributes.Hidden | FileAttributes.System)) == 0);
        return anyFolder ? ImageFolderLayout.ClassFolders : null;
    }

    /// <summary>
    /// Loads <paramref name="root"/> as training and validation data. With <c>train/</c> and <c>test/</c> the rows are
    /// those of <see cref="CifarDataLoader.Load"/> for each split; a single folder of class folders is split per class
    /// by <see cref="Split"/>. Limits then take class-balanced subsets of each part.
    /// </summary>
    /// <param name="ml">The ML.NET context.</param>
    /// <param name="root">The data root.</param>
    /// <param name="options">Limits and the split; null = the defaults.</param>
    /// <exception cref="OptionsException">An option is out of range.</exception>
    /// <exception cref="CifarDataException">
    /// The root is missing or holds no class folders; fewer than 2 or more than <see cref="MaximumClasses"/> classes;
    /// a class folder without images; train and test with different classes; a validation fraction given for a root
    /// with train/ and test/. The message is one line naming the folder.
    /// </exception>
    public static ImageFolderSplits Load(MLContext ml, string root, ImageFolderOptions? options = null)
    {
        options ??= new ImageFolderOptions();
        options.Validate();
        if (File.Exists(root)) throw new CifarDataException($"{root}: is a file, not a data root folder");
        if (!Directory.Exists(root)) throw new CifarDataException($"{root}: data root not found");
        try
        {
            return FindLayout(root) switch
            {
                ImageFolderLayout.TrainAndTest => LoadTrainAndTest(ml, root, options),
                ImageFolderLayout.ClassFolders => LoadClassFolders(ml, root, options),
                _ => throw new CifarDataException($"{root}: no class folders (expected <root>/<class>/* or <root>/{{train,test}}/<class>/*)"),
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CifarDataException($"{root}: data cannot be read ({ErrorText.FirstLine(e.Message)})");
        }
    }

    private static ImageFolderSplits LoadTrainAndTest(MLContext ml, string root, ImageFolderOptions options)
    {
        if (options.ValidationFraction is not null)
            throw new CifarDataException(
                $"{root}: {ValidationFractionKey} splits a root of class folders, but this one has train/ and test/ (its test split validates); leave it out");
        var train = ScanSplit(root, CifarSplit.Train);
        CheckClassCount($"{root}: the train split has", train.ClassNames);
        var test = ScanSplit(root, CifarSplit.Test);
        if (!train.ClassNames.SequenceEqual(test.ClassNames))
            throw new CifarDataException($"{root}: the train and test splits have different classes ({ClassDifference(train.ClassNames, test.ClassNames)})");
        return new ImageFolderSplits(
            CifarDataLoader.FromFiles(ml, train.ClassNames, train.FilesByClass, options.TrainLimit),
            CifarDataLoader.FromFiles(ml, train.ClassNames, test.FilesByClass, options.ValidationLimit),
            train.ClassNames, ImageFolderLayout.TrainAndTest, null, null, train.IgnoredFiles + test.IgnoredFiles);
    }

    private static ImageFolderSplits LoadClassFolders(MLContext ml, string root, ImageFolderOptions options)
    {
        var all = ImageFolderDataset.ScanClassFolders(root);
        CheckClassCount($"{root}: has", all.ClassNames);
        double fraction = options.ValidationFraction ?? ImageFolderOptions.DefaultValidationFraction;
        var parts = all.ClassNames.Select((name, c) => Split(name, all.FilesByClass[c], fraction, options.SplitSeed)).ToArray();
        return new ImageFolderSplits(
            CifarDataLoader.FromFiles(ml, all.ClassNames, parts.Select(p => p.Train).ToArray(), options.TrainLimit),
            CifarDataLoader.FromFiles(ml, all.ClassNames, parts.Select(p => p.Validation).ToArray(), options.ValidationLimit),
            all.ClassNames, ImageFolderLayout.ClassFolders, fraction, options.SplitSeed, all.IgnoredFiles);
    }

    /// <summary>
    /// How many of a class's <paramref name="images"/> go to validation: <paramref name="fraction"/> × images rounded
    /// half up, at least 1 and at most images − 1 when the class has 2 or more; none of a class of 1.
    /// </summary>
    public static int ValidationCount(int images, double fraction) => images < 2
        ? 0
        : Math.Clamp((int)Math.Round(fraction * images, MidpointRounding.AwayFromZero), 1, images - 1);

    /// <summary>
    /// Splits one class's files: the <see cref="ValidationCount"/> files whose SHA-256 of (seed, class name, file
    /// name) is lowest go to validation, the rest to training, each part in the given order. Which side a file lands
    /// on depends only on the seed, its class, its name and the class's count, not on the order files are listed in.
    /// </summary>
    /// <param name="className">The class (part of each file's draw, so classes with the same file names split differently).</param>
    /// <param name="files">The class's files.</param>
    /// <param name="fraction">The share to hold out, in (0, 1).</param>
    /// <param name="seed">The split's seed.</param>
    public static (IReadOnlyList<string> Train, IReadOnlyList<string> Validation) Split(
        string className, IReadOnlyList<string> files, double fraction, int seed)
    {
        var held = files
            .OrderBy(f => Draw(seed, className, Path.GetFileName(f)))
            .ThenBy(f => f, StringComparer.Ordinal)
            .Take(ValidationCount(files.Count, fraction))
            .ToHashSet(StringComparer.Ordinal);
        return (files.Where(f => !held.Contains(f)).ToArray(), files.Where(held.Contains).ToArray());
    }

    private static ulong Draw(int seed, string className, string fileName)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(FormattableString.Invariant($"{seed}\n{className}\n{fileName}")), hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }

    private static string ValidationFractionKey => new OptionChecks(ImageFolderOptions.Section).Key(nameof(ImageFolderOptions.ValidationFraction));

    private static ClassFolders ScanSplit(string root, CifarSplit split)
    {
        var folder = ImageFolderDataset.SplitFolder(root, split);
        if (!Directory.Exists(folder))
            throw new CifarDataException($"{folder}: no such folder (a root with train/ needs test/ beside it, and the other way round)");
        return ImageFolderDataset.ScanClassFolders(folder);
    }

    private static void CheckClassCount(string what, IReadOnlyList<string> names)
    {
        if (names.Count < CifarCnnEstimator.MinimumClasses)
            throw new CifarDataException($"{what} {names.Count} class ({string.Join(", ", names)}); a classifier needs at least {CifarCnnEstimator.MinimumClasses}");
        if (names.Count > MaximumClasses)
            throw new CifarDataException($"{what} {names.Count} classes; at most {MaximumClasses} are supported");
    }

    // Both lists while they are short; only the differences when they are long.
    private static string ClassDifference(IReadOnlyList<string> train, IReadOnlyList<string> test) =>
        train.Count + test.Count <= 20
            ? $"{string.Join(", ", train)} / {string.Join(", ", test)}"
            : $"only in train: {Names(train.Except(test, StringComparer.Ordinal))}; only in test: {Names(test.Except(train, StringComparer.Ordinal))}";

    private static string Names(IEnumerable<string> names) => names.Any() ? string.Join(", ", names) : "none";
}
