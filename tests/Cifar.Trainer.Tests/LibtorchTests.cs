using Cifar.Tests;
using Cifar.Trainer.Native;

namespace Cifar.Trainer.Tests;

public class LibtorchTests
{
    [Fact]
    public void A_pytorch_install_is_recognised_by_its_version_py()
    {
        using var dir = new TestData.TempFolder();
        var lib = Directory.CreateDirectory(Path.Combine(dir.Path, "torch", "lib")).FullName;
        File.WriteAllText(Path.Combine(dir.Path, "torch", "version.py"),
            "from typing import Optional\n__all__ = ['__version__']\n__version__ = '2.11.0+cu130'\ncuda: Optional[str] = '13.0'\n");
        var info = new LibtorchInfo(lib, Libtorch.VersionOf(lib));
        Assert.Equal("2.11.0+cu130", info.Version);
        Assert.False(info.IsExpectedVersion);
        Assert.Contains("2.11.0+cu130 is not the 2.10", info.VersionWarning);
    }

    [Fact]
    public void A_libtorch_archive_and_a_nuget_package_are_recognised()
    {
        using var dir = new TestData.TempFolder();
        var archive = Directory.CreateDirectory(Path.Combine(dir.Path, "libtorch", "lib")).FullName;
        File.WriteAllText(Path.Combine(dir.Path, "libtorch", "build-version"), "2.10.0+cu128\n");
        Assert.Equal("2.10.0+cu128", Libtorch.VersionOf(archive));
        Assert.True(new LibtorchInfo(archive, "2.10.0+cu128").IsExpectedVersion);
        Assert.Null(new LibtorchInfo(archive, "2.10.0").VersionWarning);

        var package = Path.Combine(dir.Path, ".nuget", "packages", "libtorch-cuda-12.8-linux-x64-part3", "2.10.0.1", "runtimes", "linux-x64", "native");
        Assert.Equal("2.10.0.1", Libtorch.VersionOf(package));
        Assert.Equal("unknown", Libtorch.VersionOf(Directory.CreateDirectory(Path.Combine(dir.Path, "plain")).FullName));
        Assert.False(new LibtorchInfo(null, "unknown").IsExpectedVersion);
    }

    [Fact]
    public void The_loaded_libtorch_is_found_with_its_version()
    {
        // These tests carry the NuGet libtorch (build/Libtorch.props), loaded by now or by this call.
        _ = TorchSharp.torch.CPU;
        var loaded = Libtorch.Loaded();
        Assert.NotNull(loaded);
        Assert.True(File.Exists(Path.Combine(loaded!.Directory!, "libtorch_cpu.so")));
        Assert.StartsWith("2.10", loaded.Version);
    }

    [Fact]
    public void A_folder_without_libtorch_or_in_a_build_that_carries_one_is_refused()
    {
        using var dir = new TestData.TempFolder();
        var error = Assert.Throws<LibtorchLoadException>(() => Libtorch.UseDirectory(dir.Path));
        Assert.Contains("no libtorch.so there", error.Message);
        File.WriteAllBytes(dir.File("libtorch.so"), []);
        error = Assert.Throws<LibtorchLoadException>(() => Libtorch.UseDirectory(dir.Path));
        Assert.Contains("-p:TorchBackend=none", error.Message);
    }
}
