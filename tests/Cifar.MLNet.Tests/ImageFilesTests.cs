using Cifar.MLNet.Data;
using Cifar.Tests;

namespace Cifar.MLNet.Tests;

public class ImageFilesTests
{
    [Theory]
    [InlineData(100_000, 100_000, true)]
    [InlineData(4097, 4096, true)]
    [InlineData(4096, 4096, false)]
    [InlineData(64, 48, false)]
    public void The_size_is_read_from_the_header_and_too_many_pixels_are_refused(int width, int height, bool refused)
    {
        using var dir = new TestData.TempFolder();
        var path = dir.File("a.png");
        TestImages.WritePngDeclaring(path, width, height);
        if (refused)
        {
            var e = Assert.Throws<InvalidDataException>(() => ImageFiles.Check(path));
            Assert.StartsWith($"{path}: declares a {width}×{height} image", e.Message);
            Assert.False(CifarDataLoader.CanDecode(path));
            Assert.Throws<InvalidDataException>(() => ImageFiles.CheckEncoded(File.ReadAllBytes(path)));
        }
        else
        {
            Assert.Equal((width, height), ImageFiles.Check(path));
        }
    }

    [Fact]
    public void Bmp_headers_are_read_too()
    {
        using var dir = new TestData.TempFolder();
        TestImages.WriteBmp(dir.File("a.bmp"), 40, 24, TestImages.Pattern);
        Assert.Equal((40, 24), ImageFiles.Check(dir.File("a.bmp")));
    }

    [Fact]
    public void An_empty_path_and_one_holding_a_nul_character_are_named_not_argument_errors()
    {
        Assert.Equal("the image file path is empty", Assert.Throws<FileNotFoundException>(() => ImageFiles.Check("")).Message);
        Assert.Equal("a\0b: not a usable model file path (it holds a NUL character)",
            Assert.Throws<InvalidDataException>(() => ImageFiles.RequireReadableFile("a\0b", "model file")).Message);
    }

    [Fact]
    public void Missing_dangling_folder_and_not_an_image_are_told_apart()
    {
        using var dir = new TestData.TempFolder();
        Assert.Equal($"{dir.File("none.jpg")}: image file not found",
            Assert.Throws<FileNotFoundException>(() => ImageFiles.Check(dir.File("none.jpg"))).Message);

        File.CreateSymbolicLink(dir.File("link.jpg"), dir.File("gone.jpg"));
        Assert.Equal($"{dir.File("link.jpg")}: image file not found (a symbolic link to {dir.File("gone.jpg")}, which does not exist)",
            Assert.Throws<FileNotFoundException>(() => ImageFiles.Check(dir.File("link.jpg"))).Message);

        Directory.CreateDirectory(dir.File("folder.jpg"));
        Assert.Equal($"{dir.File("folder.jpg")}: is a folder, not an image file",
            Assert.Throws<InvalidDataException>(() => ImageFiles.Check(dir.File("folder.jpg"))).Message);

        File.WriteAllText(dir.File("text.jpg"), "not a JPEG at all");
        Assert.Equal($"{dir.File("text.jpg")}: not an image that can be decoded (not a known image format)",
            Assert.Throws<InvalidDataException>(() => ImageFiles.Check(dir.File("text.jpg"))).Message);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void An_unreadable_file_is_called_unreadable()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("permission bits are POSIX");
        using var dir = new TestData.TempFolder();
        var path = dir.File("secret.bmp");
        TestImages.WriteBmp(path, 8, 8, TestImages.Pattern);
        File.SetUnixFileMode(path, UnixFileMode.None);
        try
        {
            // Where permissions hold even for root, who reads any file regardless of its mode.
            var error = WithoutFilePermissionOverride.Run(() => Record.Exception(() => ImageFiles.Check(path)));
            Assert.Equal($"{path}: image file cannot be read (permission denied)", Assert.IsType<UnauthorizedAccessException>(error).Message);
        }
        finally
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
