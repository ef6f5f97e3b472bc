using System.Diagnostics;
using Cifar.Tests;

namespace Cifar.Host.Tests;

/// <summary>
/// The self-contained app built without libtorch (TorchBackend=none), as scripts/gpu-check.sh carries it to a GPU
/// machine: built once for the tests of <see cref="ExternalLibtorchTests"/>.
/// </summary>
public sealed class LibtorchFreeBundle : IDisposable
{
    private readonly TestData.TempFolder _dir = new();
    private readonly Lazy<(int Code, string Output)> _build;

    public LibtorchFreeBundle() =>
        _build = new(() => ExternalLibtorchTests.Run(TestData.RepoRoot(), "bash scripts/gpu-check.sh bundle \"$1\"", BundlePath));

    private string BundlePath => _dir.File("bundle");

    /// <summary>The bundle's folder, built on first use and checked to carry no libtorch.</summary>
    public string Require()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("the bundle is linux-x64");
        var (code, output) = _build.Value;
        Assert.True(code == 0, output);
        Assert.False(File.Exists(Path.Combine(BundlePath, "libtorch_cpu.so")), "the bundle must not carry libtorch");
        return BundlePath;
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>
/// The app built without libtorch trains on a libtorch folder given by Torch:LibraryPath, and names what cannot load.
/// </summary>
public class ExternalLibtorchTests(LibtorchFreeBundle bundleFixture) : IClassFixture<LibtorchFreeBundle>
{
    /// <summary>Runs a command through bash (its output to a file, read after it ends).</summary>
    internal static (int Code, string Output) Run(string workingDirectory, string command, params string[] args)
    {
        var log = Path.GetTempFileName();
        try
        {
            var start = new ProcessStartInfo("bash") { WorkingDirectory = workingDirectory };
            foreach (var a in new[] { "-c", command + " >\"$0\" 2>&1", log }.Concat(args)) start.ArgumentList.Add(a);
            using var process = Process.Start(start)!;
            process.WaitForExit();
            return (process.ExitCode, File.ReadAllText(log));
        }
        finally
        {
            File.Delete(log);
        }
    }

    private static string Train(string output, params string[] more) =>
        $"\"$1/cifar\" train --config \"$2/c.json\" --output \"$2/{output}\" --Data:Root=\"$2/data\" {string.Join(' ', more)}";

    /// <summary>A folder with a small data set and a one-epoch CPU config, for <see cref="Train"/>.</summary>
    private static TestData.TempFolder RunFolder()
    {
        var dir = new TestData.TempFolder();
        TestImages.WriteBinaryBatches(dir.File("data"), recordsPerBatch: 20);
        File.WriteAllText(dir.File("c.json"), """{ "Training": { "Epochs": 1, "BatchSize": 8, "Device": "cpu" } }""");
        return dir;
    }

    [Fact]
    public void The_bundle_without_libtorch_trains_on_a_libtorch_folder_and_names_what_cannot_load()
    {
        var bundle = bundleFixture.Require();
        var nuget = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var libtorch = Path.Combine(nuget, "libtorch-cpu-linux-x64", "2.10.0", "runtimes", "linux-x64", "native");
        Assert.True(File.Exists(Path.Combine(libtorch, "libtorch.so")), $"{libtorch}: the restored NuGet libtorch is missing");
        using var dir = RunFolder();

        var (code, output) = Run(dir.Path, Train("ours", "--Torch:LibraryPath=\"$3\""), bundle, dir.Path, libtorch);
        Assert.True(code == 0, output);
        Assert.Contains($"libtorch 2.10.0 ({libtorch}), TorchSharp 0.107.0", output);
        Assert.DoesNotContain("warning:", output);
        Assert.True(File.Exists(Path.Combine(dir.Path, "ours", "model.zip")));

        // No folder: the libtorch the dynamic linker finds, if any, is checked the same way (Debian's python3-torch
        // installs its 1.13 system-wide); with none, one line says what to do.
        (code, output) = Run(dir.Path, Train("none"), bundle, dir.Path);
        Assert.Equal(2, code);
        Assert.DoesNotContain('\n', output.Trim());
        if (File.Exists("/usr/lib/x86_64-linux-gnu/libtorch_cpu.so"))
            Assert.StartsWith("error: the libtorch the dynamic linker finds (LD_LIBRARY_PATH or the system's libraries) cannot be used by TorchSharp 0.107.0 (built for 2.10): undefined symbol ", output.Trim());
        else
            Assert.Equal("error: TorchSharp 0.107.0 needs libtorch 2.10 and this app carries none (built with TorchBackend=none): " +
                         "give a libtorch folder (Torch:LibraryPath; docs/gpu.md), or build with the default TorchBackend=cpu or TorchBackend=cuda", output.Trim());
    }

    [Fact]
    public void A_pytorch_1_13_folder_is_refused_at_load_saying_why()
    {
        // Debian's PyTorch 1.13 (python3-torch, bench/pytorch's peer).
        const string debianTorch = "/usr/lib/python3/dist-packages/torch/lib";
        if (!OperatingSystem.IsLinux()) Assert.Skip("Debian's PyTorch is linux-x64");
        Assert.True(File.Exists(Path.Combine(debianTorch, "libtorch.so")),
            $"Debian's python3-torch is not installed ({debianTorch}): scripts/install-prerequisites.sh --tests installs it");
        var bundle = bundleFixture.Require();
        using var dir = RunFolder();

        var (code, output) = Run(dir.Path, Train("old", "--Torch:LibraryPath=\"$3\""), bundle, dir.Path, debianTorch);
        Assert.Equal(2, code);
        const string refused = @"^error: Torch:LibraryPath: \S+: TorchSharp's native glue \(libLibTorchSharp\.so\) cannot be loaded with libtorch 1\.13\S* \(TorchSharp 0\.107\.0 is built for 2\.10\): ";
        // With libtorch-dev the system has a plain libtorch.so (the same 1.13) and the glue binds to it, missing a function;
        // without it, the folder's libtorch.so is a link to Debian's libtorch.so.1.13, which the glue cannot find by name.
        if (File.Exists("/usr/lib/x86_64-linux-gnu/libtorch.so"))
            Assert.Matches(refused + @"undefined symbol \S", output.Trim());
        else
            Assert.Matches(refused + @"it needs a library named libtorch\.so, and this folder's libtorch\.so is a link to a distribution's versioned build \(libtorch\.so\.1\.13\)$", output.Trim());
        Assert.DoesNotContain('\n', output.Trim());
    }
}
