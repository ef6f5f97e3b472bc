using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Data;

/// <summary>
/// The loading stage's data sources: CIFAR-10 as ML.NET data views with a <c>Label</c> key column
/// (key values = class names, in class order) and either an <c>ImagePath</c> column (image
/// folders) or a <c>Pixels</c> column (binary batches, already decoded as the loading stage would).
/// </summary>
public static class CifarDataLoader
{
    /// <summary>
    /// Loads a split from <paramref name="root"/>, whichever layout it has: image folders
    /// (<c>root/train/&lt;class&gt;/…</c>) or the binary batches (in root or root/cifar-10-batches-bin).
    /// </summary>
    /// <param name="ml">The ML.NET context.</param>
    /// <param name="root">The data root.</param>
    /// <param name="split">Which split.</param>
    /// <param name="limit">At most this many images, class-balanced (0 = all).</param>
    /// <exception cref="CifarDataException">Neither layout is there, or the data is malformed.</exception>
    public static IDataView Load(MLContext ml, string root, CifarSplit split, int limit = 0)
    {
        if (File.Exists(root)) throw new CifarDataException($"{root}: is a file, not a data root folder");
        if (!Directory.Exists(root)) throw new CifarDataException($"{root}: data root not found");
        try
        {
            if (ImageFolderDataset.Exists(root, split)) return LoadImageFolders(ml, root, split, limit);
            if (BinaryBatchDataset.FindFolder(root) is { } batches) return LoadBinaryBatches(ml, batches, split, limit);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // e.g. a class folder that may not be listed; the message names the path.
            throw new CifarDataException($"{root}: data cannot be read ({ErrorText.FirstLine(e.Message)})");
        }
        throw new CifarDataException(
            $"{root}: no CIFAR-10 data (expected {Path.GetFileName(ImageFolderDataset.SplitFolder(root, split))}/<class>/*.jpg, or {BinaryBatchDataset.MetaFile} with the .bin batches)");
    }

    /// <summary>The class names of a data view's label key column, in key order.</summary>
    public static IReadOnlyList<string> ClassNames(IDataView data, string labelColumnName = CifarColumns.Label) =>
        ClassNames(data.Schema[labelColumnName]);

    /// <summary>The class names of a label key column, in key order ("0", "1", … without key values).</summary>
    public static IReadOnlyList<string> ClassNames(DataViewSchema.Column label)
    {
        int count = label.Type is KeyDataViewType key ? (int)key.Count : throw new ArgumentException($"column '{label.Name}' is {label.Type}, not a key type", nameof(label));
        if (label.HasKeyValues())
        {
            VBuffer<ReadOnlyMemory<char>> names = default;
            label.GetKeyValues(ref names);
            return names.DenseValues().Select(n => n.ToString()).ToArray();
        }
        return Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Loads a split stored as image folders: columns <c>Label</c> (key) and <c>ImagePath</c>.</summary>
    public static IDataView LoadImageFolders(MLContext ml, string root, CifarSplit split, int limit = 0)
    {
        var (classNames, files) = ImageFolderDataset.Scan(root, split);
        return FromFiles(ml, classNames, files, limit);
    }

    /// <summary>
    /// Rows of <c>Label</c> (key over <paramref name="classNames"/>) and <c>ImagePath</c> (full path): a class-balanced
    /// subset of <paramref name="filesByClass"/>, class after class in the given order.
    /// </summary>
    internal static IDataView FromFiles(MLContext ml, IReadOnlyList<string> classNames, IReadOnlyList<IReadOnlyList<string>> filesByClass, int limit)
    {
        var rows = BalancedSubset.Take(filesByClass, limit)
            .Select(x => new PathRow { ImagePath = Path.GetFullPath(x.Item), Label = classNames[x.ClassIndex] })
            .ToArray();
        return WithLabelKeys(ml, ml.Data.LoadFromEnumerable(rows), classNames);
    }

    /// <summary>How many rows of each class <paramref name="data"/> has, in key order (rows without a class are not counted).</summary>
    /// <param name="data">Data with a label key column.</param>
    /// <param name="labelColumnName">The label column.</param>
    public static IReadOnlyList<long> ClassCounts(IDataView data, string labelColumnName = CifarColumns.Label)
    {
        var counts = new long[ClassNames(data, labelColumnName).Count];
        foreach (var key in data.GetColumn<uint>(labelColumnName))
            if (key > 0 && key <= counts.Length) counts[key - 1]++;
        return counts;
    }

    /// <summary>Loads a split stored as binary batches: columns <c>Label</c> (key) and <c>Pixels</c> (0–255, 3×32×32).</summary>
    public static IDataView LoadBinaryBatches(MLContext ml, string folder, CifarSplit split, int limit = 0)
    {
        var records = BinaryBatchDataset.Read(folder, split);
        var byClass = Enumerable.Range(0, records.ClassNames.Count)
            .Select(c => (IReadOnlyList<int>)Enumerable.Range(0, records.Count).Where(i => records.Labels[i] == c).ToArray())
            .ToArray();
        var chosen = BalancedSubset.Take(byClass, limit).Select(x => x.Item).ToArray();
        var schema = SchemaDefinition.Create(typeof(PixelRow));
        schema[nameof(PixelRow.Pixels)].ColumnType = PixelsType;
        var view = ml.Data.LoadFromEnumerable(PixelRows(records, chosen), schema);
        return WithLabelKeys(ml, view, records.ClassNames);
    }

    /// <summary>
    /// The rows whose image file decodes; the others are dropped. Apply it to the data source, before
    /// the loading stage (data without <c>ImagePath</c> passes unchanged). Every read of the result
    /// decodes each file once more to check it.
    /// </summary>
    public static IDataView WithoutUndecodableImages(MLContext ml, IDataView data) =>
        data.Schema.GetColumnOrNull(CifarColumns.ImagePath) is { Type: TextDataViewType }
            ? ml.Data.FilterByCustomPredicate<PathOnlyRow>(data, row => !CanDecode(row.ImagePath))
            : data;

    /// <summary>The first image path in <paramref name="data"/> that does not decode, or null.</summary>
    public static string? FirstUndecodableImage(IDataView data) =>
        data.Schema.GetColumnOrNull(CifarColumns.ImagePath) is { Type: TextDataViewType }
            ? data.GetColumn<string>(CifarColumns.ImagePath).FirstOrDefault(path => !CanDecode(path))
            : null;

    /// <summary>
    /// Whether ImageAnalytics can decode the file; false without decoding for a file that is
    /// missing, unreadable or declares more than <see cref="ImageFiles.MaxPixels"/>.
    /// </summary>
    public static bool CanDecode(string path)
    {
        try
        {
            ImageFiles.Check(path);
            using var image = MLImage.CreateFromFile(path);
            return image.Width > 0 && image.Height > 0;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException or FormatException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private sealed class PathOnlyRow
    {
        public string ImagePath { get; set; } = "";
    }

    /// <summary>The type of a <c>Pixels</c> column: 3×32×32 floats, as ImageAnalytics' ExtractPixels gives.</summary>
    public static VectorDataViewType PixelsType { get; } = ImageFormat.Cifar.PixelsType;

    // Decoded lazily, one row per cursor step: floats for 50,000 images would take 600 MB.
    private static IEnumerable<PixelRow> PixelRows(BinaryBatchDataset.Records records, int[] indices)
    {
        foreach (var i in indices)
        {
            var pixels = new float[CifarImage.Size];
            var source = records.Pixels.AsSpan(i * CifarImage.Size, CifarImage.Size);
            for (int k = 0; k < pixels.Length; k++) pixels[k] = source[k];
            yield return new PixelRow { Pixels = pixels, Label = records.ClassNames[records.Labels[i]] };
        }
    }

    private static IDataView WithLabelKeys(MLContext ml, IDataView view, IReadOnlyList<string> classNames)
    {
        // Key order = class order, whatever order the rows come in.
        var keys = ml.Data.LoadFromEnumerable(classNames.Select(n => new KeyRow { Label = n }));
        return ml.Transforms.Conversion.MapValueToKey(CifarColumns.Label, keyData: keys).Fit(view).Transform(view);
    }

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    private sealed class PixelRow
    {
        public float[] Pixels { get; set; } = [];
        public string Label { get; set; } = "";
    }

    private sealed class KeyRow
    {
        public string Label { get; set; } = "";
    }
}
