using System.Diagnostics;
using Cifar.Tests;
using System.Text.Json;

namespace Cifar.Host.Tests;

/// <summary>build/Libtorch.props: which libtorch package each TorchBackend brings (evaluated, not restored).</summary>
public class BuildSwitchTests
{
    [Theory]
    [InlineData("cpu", "libtorch-cpu-linux-x64")]
    [InlineData("cuda", "TorchSharp-cuda-linux")]
    [InlineData("none", null)]
    public void TorchBackend_picks_the_libtorch_package(string backend, string? expected)
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("the Linux package names");
        var packages = PackageReferences(backend);
        string[] libtorchPackages = ["libtorch-cpu-linux-x64", "libtorch-cpu", "TorchSharp-cuda-linux", "TorchSharp-cuda-windows"];
        Assert.Equal(expected is null ? [] : new[] { expected }, packages.Intersect(libtorchPackages).ToArray());
    }

    private static string[] PackageReferences(string backend)
    {
        var project = Path.Combine(TestData.RepoRoot(), "src", "Cifar.Host", "Cifar.Host.csproj");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "msbuild", project, "-getItem:PackageReference", $"-p:TorchBackend={backend}", "-nologo" }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, stdout.Result + stderr.Result);
        using var json = JsonDocument.Parse(stdout.Result);
        return json.RootElement.GetProperty("Items").GetProperty("PackageReference").EnumerateArray()
            .Select(item => item.GetProperty("Identity").GetString()!).ToArray();
    }

}
