using Cifar.MLNet.Data;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Tests;

/// <summary>Any folder of class folders: train/ and test/, or one folder split per class; names, counts, refusals.</summary>
public class ImageFolderDataTests
{
    private readonly MLContext _ml = new(seed: 1);

    /// <summary>Writes <paramref name="count"/> small BMPs named 00.bmp, 01.bmp, … into <paramref name="folder"/>.</summary>
    private static void WriteImages(string folder, int count, int size = 8)
    {
        Directory.CreateDirectory(folder);
        for (int i = 0; i < count; i++) TestImages.WriteBmp(Path.Combine(folder, $"{i:00}.bmp"), size, size, TestImages.Pattern);
    }

    private static Dictionary<string, string[]> PathsByClass(IDataView view)
    {
        var names = CifarDataLoader.ClassNames(view);
        return view.GetColumn<string>("ImagePath").Zip(view.GetColumn<uint>("Label"))
            .GroupBy(r => names[(int)r.Second - 1]).ToDictionary(g => g.Key, g => g.Select(r => r.First).ToArray());
    }

    private static string[] Paths(IDataView view) => view.GetColumn<string>("ImagePath").ToArray();

    [Fact]
    public void One_folder_is_split_per_class_with_its_names_in_ordinal_order()
    {
        using var dir = new TestData.TempFolder();
        var counts = new Dictionary<string, int> { ["zebra crossing"] = 10, ["Ölfass"] = 5, ["7"] = 3, ["10"] = 2, ["solo"] = 1 };
        foreach (var (name, count) in counts) WriteImages(Path.Combine(dir.Path, name), count);
        File.WriteAllText(Path.Combine(dir.Path, "7", "notes.txt"), "not an image");
        File.WriteAllText(Path.Combine(dir.Path, "10", "labels.csv"), "not an image");
        File.WriteAllText(Path.Combine(dir.Path, "10", ".DS_Store"), "hidden: not counted");
        WriteImages(Path.Combine(dir.Path, "solo", ".thumbnails"), 2); // a class folder's subfolder is not read
        WriteImages(Path.Combine(dir.Path, ".cache"), 2);               // a hidden folder is no class
        TestImages.WriteBmp(Path.Combine(dir.Path, "7", ".hidden.bmp"), 8, 8, TestImages.Pattern);
        File.WriteAllText(Path.Combine(dir.Path, "README.md"), "files beside the class folders are not read");

        var splits = ImageFolderData.Load(_ml, dir.Path);

        Assert.Equal(ImageFolderLayout.ClassFolders, ImageFolderData.FindLayout(dir.Path));
        Assert.Equal((ImageFolderLayout.ClassFolders, 0.2, 1, 2), (splits.Layout, splits.ValidationFraction, splits.SplitSeed, splits.IgnoredFiles));
        Assert.Equal(new[] { "10", "7", "solo", "zebra crossing", "Ölfass" }, splits.ClassNames);
        Assert.Equal(splits.ClassNames, CifarDataLoader.ClassNames(splits.Train));
        Assert.Equal(splits.ClassNames, CifarDataLoader.ClassNames(splits.Validation));
        Assert.Equal(splits.Train.Schema["Label"].Type, splits.Validation.Schema["Label"].Type);
        // round(0.2 × n), at least 1 where a class has 2 or more: 2 → 1, 3 → 1, 1 → 0, 10 → 2, 5 → 1.
        Assert.Equal(new long[] { 1, 1, 0, 2, 1 }, CifarDataLoader.ClassCounts(splits.Validation));
        Assert.Equal(new long[] { 1, 2, 1, 8, 4 }, CifarDataLoader.ClassCounts(splits.Train));
        // Rows come class after class, each class's files in ordinal order, as absolute paths.
        var train = Paths(splits.Train);
        Assert.All(train, p => Assert.True(Path.IsPathRooted(p)));
        Assert.Equal(train.OrderBy(p => Path.GetFileName(Path.GetDirectoryName(p)), StringComparer.Ordinal).ThenBy(p => p, StringComparer.Ordinal), train);
    }

    [Fact]
    public void The_split_is_disjoint_deterministic_independent_of_listing_order_and_moves_with_the_seed()
    {
        using var dir = new TestData.TempFolder();
        foreach (var name in new[] { "a", "b" }) WriteImages(Path.Combine(dir.Path, name), 20);
        var options = new ImageFolderOptions { ValidationFraction = 0.25, SplitSeed = 7 };
        var first = ImageFolderData.Load(_ml, dir.Path, options);
        var again = ImageFolderData.Load(new MLContext(seed: 99), dir.Path, options);

        Assert.Equal(Paths(first.Validation), Paths(again.Validation));
        Assert.Equal(Paths(first.Train), Paths(again.Train));
        var all = Directory.GetFiles(dir.Path, "*.bmp", SearchOption.AllDirectories).Select(Path.GetFullPath).Order(StringComparer.Ordinal);
        Assert.Empty(Paths(first.Train).Intersect(Paths(first.Validation)));
        Assert.Equal(all, Paths(first.Train).Concat(Paths(first.Validation)).Order(StringComparer.Ordinal));
        Assert.Equal(new long[] { 5, 5 }, CifarDataLoader.ClassCounts(first.Validation));
        // Classes with the same file names are not split alike: the class name is part of each file's draw.
        var byClass = PathsByClass(first.Validation);
        Assert.NotEqual(byClass["a"].Select(Path.GetFileName), byClass["b"].Select(Path.GetFileName));

        var files = Directory.GetFiles(Path.Combine(dir.Path, "a")).Order(StringComparer.Ordinal).ToArray();
        var split = ImageFolderData.Split("a", files, 0.25, 7);
        var reversed = ImageFolderData.Split("a", files.Reverse().ToArray(), 0.25, 7);
        Assert.Equal(split.Validation.Order(), reversed.Validation.Order());
        Assert.NotEqual(split.Validation, ImageFolderData.Split("a", files, 0.25, 8).Validation);
        Assert.NotEqual(Paths(first.Validation), Paths(ImageFolderData.Load(_ml, dir.Path, options with { SplitSeed = 8 }).Validation));
    }

    [Theory]
    [InlineData(1, 0.2, 0)]
    [InlineData(2, 0.2, 1)]
    [InlineData(2, 0.9, 1)]
    [InlineData(3, 0.5, 2)]
    [InlineData(5, 0.1, 1)]
    [InlineData(10, 0.2, 2)]
    [InlineData(10, 0.25, 3)]
    [InlineData(100, 0.2, 20)]
    [InlineData(600, 0.2, 120)]
    public void Validation_counts_round_half_up_and_leave_both_sides_an_image(int images, double fraction, int expected) =>
        Assert.Equal(expected, ImageFolderData.ValidationCount(images, fraction));

    [Fact]
    public void Two_classes_and_a_hundred_and_twenty_classes_load_with_limits_taken_per_part()
    {
        using var dir = new TestData.TempFolder();
        WriteImages(Path.Combine(dir.File("two"), "no"), 4, size: 4);
        WriteImages(Path.Combine(dir.File("two"), "yes"), 6, size: 4);
        var two = ImageFolderData.Load(_ml, dir.File("two"), new ImageFolderOptions { ValidationFraction = 0.5 });
        Assert.Equal(new[] { "no", "yes" }, two.ClassNames);
        Assert.Equal(new long[] { 2, 3 }, CifarDataLoader.ClassCounts(two.Train));
        Assert.Equal(new long[] { 2, 3 }, CifarDataLoader.ClassCounts(two.Validation));

        var names = Enumerable.Range(0, 120).Select(i => $"класс {i:000}").ToArray();
        foreach (var name in names) WriteImages(Path.Combine(dir.File("many"), name), 3, size: 2);
        var many = ImageFolderData.Load(_ml, dir.File("many"), new ImageFolderOptions { TrainLimit = 130 });
        Assert.Equal(names, many.ClassNames);
        Assert.Equal(Enumerable.Repeat(1L, 120), CifarDataLoader.ClassCounts(many.Validation));
        // 2 training images per class, 130 of 240 taken: one round over all classes, then 10 classes a second.
        Assert.Equal(Enumerable.Repeat(2L, 10).Concat(Enumerable.Repeat(1L, 110)), CifarDataLoader.ClassCounts(many.Train));
    }

    [Fact]
    public void Train_and_test_folders_give_the_rows_of_the_split_loader()
    {
        using var dir = new TestData.TempFolder();
        foreach (var (split, cls, count) in new[] { ("train", "b", 5), ("train", "a", 3), ("test", "a", 2), ("test", "b", 2) })
            WriteImages(Path.Combine(dir.Path, split, cls), count);
        File.WriteAllText(Path.Combine(dir.Path, "test", "b", "notes.txt"), "not an image");
        WriteImages(Path.Combine(dir.Path, "train", ".git"), 1);

        var splits = ImageFolderData.Load(_ml, dir.Path, new ImageFolderOptions { TrainLimit = 6 });

        Assert.Equal((ImageFolderLayout.TrainAndTest, null, null, 1), (splits.Layout, splits.ValidationFraction, splits.SplitSeed, splits.IgnoredFiles));
        Assert.Equal(new[] { "a", "b" }, splits.ClassNames);
        var train = CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Train, 6);
        var test = CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Test);
        Assert.Equal(Paths(train), Paths(splits.Train));
        Assert.Equal(train.GetColumn<uint>("Label"), splits.Train.GetColumn<uint>("Label"));
        Assert.Equal(Paths(test), Paths(splits.Validation));
        Assert.Equal(new long[] { 3, 3 }, CifarDataLoader.ClassCounts(splits.Train));
    }

    /// <summary>
    /// SHA-256 of the rows' "relative path TAB label key" lines for these limits, computed apart from the loaders (in
    /// Python) from the documented rule: class by class in ordinal order, each class's first files in ordinal order, the
    /// limit shared evenly. Both loaders must keep giving these rows: a run's data, hence its numbers, depends on them.
    /// </summary>
    private const string Cifar10Train5000Rows = "3d9632fc3c296561b28400447796ee078d5748c04837421508d93ed08e3addb5",
        Cifar10Test1000Rows = "84327a6a34f71946702440780eb315ddd979f0c571c0fdf93891c61684ddf3ae";

    private static string RowsDigest(IDataView view, string root) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Concat(
            Paths(view).Zip(view.GetColumn<uint>("Label"), (path, key) => $"{Path.GetRelativePath(root, path).Replace('\\', '/')}\t{key}\n")))));

    [Fact]
    public void Cifar10_image_folders_give_the_same_rows_as_before()
    {
        var root = TestData.RequireRoot();
        var splits = ImageFolderData.Load(_ml, root, new ImageFolderOptions { TrainLimit = 5000, ValidationLimit = 1000 });
        var train = CifarDataLoader.Load(_ml, root, CifarSplit.Train, 5000);
        var test = CifarDataLoader.Load(_ml, root, CifarSplit.Test, 1000);
        Assert.Equal(ImageFolderLayout.TrainAndTest, splits.Layout);
        Assert.Equal(CifarDataLoader.ClassNames(train), splits.ClassNames);
        Assert.Equal((Cifar10Train5000Rows, Cifar10Test1000Rows), (RowsDigest(train, root), RowsDigest(test, root)));
        Assert.Equal((Cifar10Train5000Rows, Cifar10Test1000Rows), (RowsDigest(splits.Train, root), RowsDigest(splits.Validation, root)));
    }

    [Fact]
    public void Fewer_than_two_and_more_than_a_thousand_classes_are_refused_in_one_line()
    {
        using var dir = new TestData.TempFolder();
        WriteImages(Path.Combine(dir.File("one"), "cat"), 2);
        Assert.Equal($"{dir.File("one")}: has 1 class (cat); a classifier needs at least 2",
            Assert.Throws<CifarDataException>(() => ImageFolderData.Load(_ml, dir.File("one"))).Message);
        WriteImages(Path.Combine(dir.File("split"), "train", "cat"), 2);
        WriteImages(Path.Combine(dir.File("split"), "test", "cat"), 2);
        Assert.Equal($"{dir.File("split")}: the train split has 1 class (cat); a classifier needs at least 2",
            Assert.Throws<CifarDataException>(() => ImageFolderData.Load(_ml, dir.File("split"))).Message);
        for (int i = 0; i < 1001; i++)
        {
            Directory.CreateDirectory(Path.Combine(dir.File("many"), $"{i}"));
            File.WriteAllBytes(Path.Combine(dir.File("many"), $"{i}", "x.png"), []); // counted by extension; never decoded here
        }
        Assert.Equal($"{dir.File("many")}: has 1001 classes; at most 1000 are supported",
            Assert.Throws<CifarDataException>(() => ImageFolderData.Load(_ml, dir.File("many"))).Message);
        Directory.Delete(Path.Combine(dir.File("many"), "1000"), recursive: true);
        Assert.Equal(1000, ImageFolderData.Load(_ml, dir.File("many")).ClassNames.Count);
    }

    [Fact]
    public void A_validation_fraction_for_train_and_test_folders_and_out_of_range_is_refused()
    {
        using var dir = new TestData.TempFolder();
        foreach (var split in new[] { "train", "test" })
            foreach (var cls in new[] { "a", "b" }) WriteImages(Path.Combine(dir.Path, split, cls), 2);
        Assert.Equal($"{dir.Path}: Data:ValidationFraction splits a root of class folders, but this one has train/ and test/ (its test split validates); leave it out",
            Assert.Throws<CifarDataException>(() => ImageFolderData.Load(_ml, dir.Path, new ImageFolderOptions { ValidationFraction = 0.2 })).Message);
        foreach (var bad in new[] { 0.0, 1.0, -0.5, double.NaN })
            Assert.Equal($"Data:ValidationFraction must be greater than 0 and less than 1 (got {bad.ToString(System.Globalization.CultureInfo.InvariantCulture)})",
                Assert.Throws<OptionsException>(() => ImageFolderData.Load(_ml, dir.Path, new ImageFolderOptions { ValidationFraction = bad })).Message);
        Assert.Equal("Data:TrainLimit must be 0 (all) or more (got -1)",
            Assert.Throws<OptionsException>(() => new ImageFolderOptions { TrainLimit = -1 }.Validate()).Message);
    }

    [Fact]
    public void Roots_without_class_folders_or_half_a_split_are_named()
    {
        using var dir = new TestData.TempFolder();
        Assert.Null(ImageFolderData.FindLayout(dir.Path));
        Assert.Equal($"{dir.Path}: no class folders (expected <root>/<class>/* or <root>/{{train,test}}/<class>/*)",
            Assert.Throws<CifarDataException>(() => ImageFolderData.Load(_ml, dir.Path)).Message);
        Assert.Equal($"{dir.File("nowhere")}: data root not found",
            Assert.Throws<CifarDataException>(() => ImageFolderData.Load(_ml, dir.File("nowhere"))).Message);
        File.WriteAllText(dir.File("file"), "x");
        Assert.Equal($"{dir.File("file")}: is a file, not a data root folder",
            Assert.Throws<CifarDataException>(() => ImageFolderData.Load(_ml, dir.File("file"))).Message);
        WriteImages(Path.Combine(dir.Path, "train", "a"), 1);
        WriteImages(Path.Combine(dir.Path, "train", "b"), 1);
        Assert.Equal($"{Path.Combine(dir.Path, "test")}: no such folder (a root with train/ needs test/ beside it, and the other way round)",
            Assert.Throws<CifarDataException>(() => ImageFolderData.Load(_ml, dir.Path)).Message);
        Directory.CreateDirectory(Path.Combine(dir.Path, "test", "a"));
        Assert.Equal($"{Path.Combine(dir.Path, "test", "a")}: class folder has no image files",
            Assert.Throws<CifarDataException>(() => ImageFolderData.Load(_ml, dir.Path)).Message);
    }

    [Fact]
    public void Train_and_test_with_different_classes_are_named_by_their_difference_when_many()
    {
        using var dir = new TestData.TempFolder();
        for (int i = 0; i < 12; i++)
        {
            WriteImages(Path.Combine(dir.Path, "train", $"c{i:00}"), 1);
            WriteImages(Path.Combine(dir.Path, "test", i == 3 ? "extra" : $"c{i:00}"), 1);
        }
        Assert.Equal($"{dir.Path}: the train and test splits have different classes (only in train: c03; only in test: extra)",
            Assert.Throws<CifarDataException>(() => ImageFolderData.Load(_ml, dir.Path)).Message);
    }
}
