using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using Cifar.Tests;

namespace Cifar.Host.Tests;

public class DownloadTests
{
    /// <summary>A small archive laid out like the official one: cifar-10-batches-bin/ with the six batches.</summary>
    private static byte[] Archive()
    {
        using var source = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(Path.Combine(source.Path, "cifar-10-batches-bin"), recordsPerBatch: 10);
        using var bytes = new MemoryStream();
        using (var gzip = new GZipStream(bytes, CompressionLevel.Fastest, leaveOpen: true))
            TarFile.CreateFromDirectory(source.Path, gzip, includeBaseDirectory: false);
        return bytes.ToArray();
    }

    private static readonly byte[] TestArchive = Archive();
    private static readonly string TestArchiveMd5 = Convert.ToHexStringLower(MD5.HashData(TestArchive));

    private static HostRun.Result Train(TestData.TempFolder dir, string url, string md5)
    {
        File.WriteAllText(dir.File("tiny.json"), """{ "Data": { "Download": true }, "Training": { "Epochs": 1, "BatchSize": 16, "Device": "cpu" } }""");
        return HostRun.Run("train", "--config", dir.File("tiny.json"), "--output", dir.File("run"),
            $"--Data:Root={dir.File("data")}", $"--Data:DownloadUrl={url}", $"--Data:DownloadMd5={md5}");
    }

    private static void AssertNothingLeft(TestData.TempFolder dir)
    {
        Assert.False(Directory.Exists(Path.Combine(dir.File("data"), "cifar-10-batches-bin")));
        if (Directory.Exists(dir.File("data"))) Assert.Empty(Directory.EnumerateFileSystemEntries(dir.File("data")));
    }

    [Fact]
    public void A_good_archive_is_checked_unpacked_and_trained_on()
    {
        using var server = new LoopbackServer(TestArchive, LoopbackServer.Behaviour.Whole);
        using var dir = new TestData.TempFolder();
        var result = Train(dir, server.Url, TestArchiveMd5);
        Assert.True(result.ExitCode == 0, result.Errors);
        var batches = Path.Combine(dir.File("data"), "cifar-10-batches-bin");
        Assert.True(File.Exists(Path.Combine(batches, "data_batch_5.bin")));
        Assert.Equal(new[] { "cifar-10-batches-bin" }, Directory.GetFileSystemEntries(dir.File("data")).Select(Path.GetFileName));
        Assert.Contains("50 training, 10 validation images", result.Output);
        Assert.True(File.Exists(Path.Combine(dir.File("run"), "model.zip")));
    }

    [Fact]
    public void A_wrong_checksum_is_refused_and_nothing_is_kept()
    {
        using var server = new LoopbackServer(TestArchive, LoopbackServer.Behaviour.Whole);
        using var dir = new TestData.TempFolder();
        var result = Train(dir, server.Url, new string('0', 32));
        Assert.Equal(1, result.ExitCode);
        var error = HostRun.OneLineError(result);
        Assert.Contains($"MD5 {TestArchiveMd5} does not match the expected {new string('0', 32)}", error);
        AssertNothingLeft(dir);
    }

    [Fact]
    public void A_cut_connection_is_reported_and_nothing_is_kept()
    {
        using var server = new LoopbackServer(TestArchive, LoopbackServer.Behaviour.CutHalfway);
        using var dir = new TestData.TempFolder();
        var result = Train(dir, server.Url, TestArchiveMd5);
        Assert.Equal(1, result.ExitCode);
        var error = HostRun.OneLineError(result);
        Assert.Contains(server.Url, error);
        Assert.Contains($"of {TestArchive.Length} bytes", error);
        AssertNothingLeft(dir);
    }

    [Fact]
    public void A_server_error_is_reported()
    {
        using var server = new LoopbackServer(TestArchive, LoopbackServer.Behaviour.NotFound);
        using var dir = new TestData.TempFolder();
        var result = Train(dir, server.Url, TestArchiveMd5);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("answered 404", HostRun.OneLineError(result));
        AssertNothingLeft(dir);
    }
}
