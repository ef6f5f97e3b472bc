using Cifar.MLNet.Data;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Tests;

public class DataLoadingTests
{
    private readonly MLContext _ml = new(seed: 1);

    [Fact]
    public void Binary_batches_decode_labels_and_planar_pixels()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.Path, recordsPerBatch: 4);
        var records = BinaryBatchDataset.Read(dir.Path, CifarSplit.Train);
        Assert.Equal(20, records.Count);
        Assert.Equal(Enumerable.Range(0, 10).Select(c => $"class{c}"), records.ClassNames);
        Assert.Equal(new byte[] { 0, 1, 2, 3, 0, 1, 2, 3 }, records.Labels.Take(8));
        // Record 3 of a batch: red plane 3, green plane 13, blue plane 23.
        var image3 = records.Pixels.AsSpan(3 * 3072, 3072);
        Assert.Equal(3, image3[0]);
        Assert.Equal(3, image3[1023]);
        Assert.Equal(13, image3[1024]);
        Assert.Equal(23, image3[3071]);
        Assert.Equal(4, BinaryBatchDataset.Read(dir.Path, CifarSplit.Test).Count);
    }

    [Fact]
    public void A_batch_file_linking_to_nothing_is_not_found_and_a_file_is_no_data_root()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.Path, recordsPerBatch: 2);
        var test = Path.Combine(dir.Path, "test_batch.bin");
        File.Delete(test);
        File.CreateSymbolicLink(test, dir.File("gone.bin"));
        Assert.Equal($"{test}: batch file not found (a symbolic link to {dir.File("gone.bin")}, which does not exist)",
            Assert.Throws<CifarDataException>(() => CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Test)).Message);
        Assert.Equal($"{dir.File("batches.meta.txt")}: is a file, not a data root folder",
            Assert.Throws<CifarDataException>(() => CifarDataLoader.Load(_ml, dir.File("batches.meta.txt"), CifarSplit.Test)).Message);
    }

    [Fact]
    public void A_truncated_batch_file_is_named_in_the_error()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.Path, recordsPerBatch: 2);
        var batch3 = Path.Combine(dir.Path, "data_batch_3.bin");
        File.WriteAllBytes(batch3, File.ReadAllBytes(batch3)[..5000]);
        var error = Assert.Throws<CifarDataException>(() => BinaryBatchDataset.Read(dir.Path, CifarSplit.Train));
        Assert.Contains("data_batch_3.bin", error.Message);
        Assert.Contains("5000 bytes", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_label_byte_outside_the_class_list_is_refused()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.Path, recordsPerBatch: 2);
        var bytes = TestImages.Batch(2);
        bytes[3073] = 10;
        File.WriteAllBytes(Path.Combine(dir.Path, "test_batch.bin"), bytes);
        var error = Assert.Throws<CifarDataException>(() => BinaryBatchDataset.Read(dir.Path, CifarSplit.Test));
        Assert.Contains("test_batch.bin", error.Message);
        Assert.Contains("record 1 has label 10", error.Message);
    }

    [Fact]
    public void Missing_class_names_and_missing_batches_are_named()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.Path, recordsPerBatch: 1);
        File.Delete(Path.Combine(dir.Path, "data_batch_5.bin"));
        Assert.Contains("data_batch_5.bin", Assert.Throws<CifarDataException>(() => BinaryBatchDataset.Read(dir.Path, CifarSplit.Train)).Message);
        File.Delete(Path.Combine(dir.Path, "batches.meta.txt"));
        Assert.Contains("batches.meta.txt", Assert.Throws<CifarDataException>(() => BinaryBatchDataset.Read(dir.Path, CifarSplit.Test)).Message);
    }

    [Fact]
    public void Binary_batches_load_as_key_labels_and_pixels_found_in_the_archive_subfolder()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(Path.Combine(dir.Path, "cifar-10-batches-bin"), recordsPerBatch: 10);
        var view = CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Train, limit: 25);
        Assert.IsType<KeyDataViewType>(view.Schema["Label"].Type);
        Assert.Equal(Enumerable.Range(0, 10).Select(c => $"class{c}"), CifarDataLoader.ClassNames(view));
        Assert.Equal(CifarDataLoader.PixelsType, view.Schema["Pixels"].Type);
        var labels = view.GetColumn<uint>("Label").ToArray();
        Assert.Equal(25, labels.Length);
        var perClass = labels.GroupBy(l => l).OrderBy(g => g.Key).Select(g => g.Count()).ToArray();
        Assert.Equal(new[] { 3, 3, 3, 3, 3, 2, 2, 2, 2, 2 }, perClass);
        var first = view.GetColumn<float[]>("Pixels").First();
        Assert.Equal(0f, first[0]);
        Assert.Equal(10f, first[1024]);
        Assert.Equal(20f, first[2048]);
    }

    [Fact]
    public void Balanced_subsets_are_even_deterministic_and_pass_on_a_short_classes_share()
    {
        var byClass = new IReadOnlyList<string>[] { new[] { "a1", "a2", "a3", "a4" }, new[] { "b1" }, new[] { "c1", "c2", "c3" } };
        var picked = BalancedSubset.Take(byClass, 6);
        Assert.Equal(new[] { "a1", "a2", "a3", "b1", "c1", "c2" }, picked.Select(p => p.Item));
        Assert.Equal(new[] { 0, 0, 0, 1, 2, 2 }, picked.Select(p => p.ClassIndex));
        Assert.Equal(8, BalancedSubset.Take(byClass, 0).Count);
        Assert.Equal(8, BalancedSubset.Take(byClass, 100).Count);
        Assert.Equal(picked, BalancedSubset.Take(byClass, 6));
    }

    [Fact]
    public void Image_folders_give_classes_in_ordinal_order_and_skip_non_images()
    {
        using var dir = new TestData.TempFolder();
        foreach (var cls in new[] { "truck", "airplane", "cat" })
        {
            var folder = Path.Combine(dir.Path, "train", cls);
            Directory.CreateDirectory(folder);
            TestImages.WriteBmp(Path.Combine(folder, "1.bmp"), 32, 32, TestImages.Pattern);
            TestImages.WriteBmp(Path.Combine(folder, "0.bmp"), 32, 32, TestImages.Pattern);
            File.WriteAllText(Path.Combine(folder, "notes.txt"), "not an image");
        }
        var view = CifarDataLoader.Load(_ml, dir.Path, CifarSplit.Train);
        Assert.Equal(new[] { "airplane", "cat", "truck" }, CifarDataLoader.ClassNames(view));
        var paths = view.GetColumn<string>("ImagePath").ToArray();
        Assert.Equal(6, paths.Length);
        Assert.EndsWith(Path.Combine("airplane", "0.bmp"), paths[0]);
        Assert.Equal(new uint[] { 1, 1, 2, 2, 3, 3 }, view.GetColumn<uint>("Label"));
    }

    [Fact]
    public void Image_folder_problems_name_the_folder()
    {
        using var dir = new TestData.TempFolder();
        Assert.Contains("test", Assert.Throws<CifarDataException>(() => ImageFolderDataset.Scan(dir.Path, CifarSplit.Test)).Message);
        Directory.CreateDirectory(Path.Combine(dir.Path, "train"));
        Assert.Contains("no class folders", Assert.Throws<CifarDataException>(() => ImageFolderDataset.Scan(dir.Path, CifarSplit.Train)).Message);
        Directory.CreateDirectory(Path.Combine(dir.Path, "train", "cat"));
        var error = Assert.Throws<CifarDataException>(() => ImageFolderDataset.Scan(dir.Path, CifarSplit.Train));
        Assert.Contains(Path.Combine("train", "cat"), error.Message);
        Assert.Contains("no image files", error.Message);
        Assert.Contains("no CIFAR-10 data", Assert.Throws<CifarDataException>(() => CifarDataLoader.Load(_ml, Path.Combine(dir.Path, "train"), CifarSplit.Train)).Message);
        Assert.Contains("not found", Assert.Throws<CifarDataException>(() => CifarDataLoader.Load(_ml, Path.Combine(dir.Path, "nowhere"), CifarSplit.Train)).Message);
    }
}
