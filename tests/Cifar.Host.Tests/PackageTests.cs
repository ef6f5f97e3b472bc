using System.Globalization;
using System.Text.Json;
using Cifar.MLNet.Prediction;
using Cifar.Tests;

namespace Cifar.Host.Tests;

/// <summary>
/// The packages as scripts/pack.sh makes them, under a version of this test run's own (so that no copy left in the
/// machine's package cache by an earlier run is taken instead), packed once for the tests of <see cref="PackageTests"/>.
/// </summary>
public sealed class PackedPackages : IDisposable
{
    private readonly Lazy<(int Code, string Output)> _pack;

    public PackedPackages() =>
        _pack = new(() => ExternalLibtorchTests.Run(TestData.RepoRoot(), "bash scripts/pack.sh --output \"$1\" --version \"$2\"", Source, Version));

    public TestData.TempFolder Work { get; } = new();
    public string Version { get; } = "0.1.0-test." + Guid.NewGuid().ToString("N")[..12];
    public string Source => Work.File("packages");

    /// <summary>The folder of packages, packed on first use.</summary>
    public string Require()
    {
        var (code, output) = _pack.Value;
        Assert.True(code == 0, output);
        return Source;
    }

    public void Dispose()
    {
        // This run's versions of our own packages only: the cache would otherwise gather one copy per run.
        var (code, output) = ExternalLibtorchTests.Run(Work.Path, "dotnet nuget locals global-packages --list");
        if (code == 0 && output.Split(": ", 2) is [_, var cache])
            foreach (var id in new[] { "cifar.trainer", "cifar.mlnet", "cifar.tool" })
            {
                var folder = Path.Combine(cache.Trim(), id, Version);
                if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            }
        Work.Dispose();
    }
}

/// <summary>
/// The NuGet packages from a local folder, as a user takes them: a console app with a PackageReference to
/// Cifar.MLNet predicts from a zip and pulls no libtorch; the tool installs and runs.
/// </summary>
public class PackageTests(PackedPackages packages, TrainRun run) : IClassFixture<PackedPackages>, IClassFixture<TrainRun>
{
    private string Image()
    {
        var image = packages.Work.File("pattern.bmp");
        if (!File.Exists(image)) TestImages.WriteBmp(image, 32, 32, TestImages.Pattern);
        return image;
    }

    private ImagePrediction Expected(string image)
    {
        Assert.True(run.Result.ExitCode == 0, run.Result.Errors);
        using var model = CifarModel.Load(run.Model);
        return model.Predict(image);
    }

    [Fact]
    public void An_app_referencing_the_package_predicts_from_a_zip_and_pulls_no_libtorch()
    {
        var source = packages.Require();
        var app = Directory.CreateDirectory(packages.Work.File("app")).FullName;
        File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Cifar.MLNet" Version="{packages.Version}" />
              </ItemGroup>
            </Project>
            """);
        // The local folder beside the sources the machine's own NuGet configuration already has.
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="cifar-local" value="{source}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using System.Globalization;
            using Cifar.MLNet.Prediction;

            using var model = CifarModel.Load(args[0]);
            var p = model.Predict(args[1]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{p.PredictedLabel}\t{p.Score.Max():R}"));
            """);
        var image = Image();
        var (code, output) = ExternalLibtorchTests.Run(app, "dotnet build -c Release -o out -nologo -v q && dotnet out/App.dll \"$1\" \"$2\"", run.Model, image);
        Assert.True(code == 0, output);

        var expected = Expected(image);
        var fields = output.Trim().Split('\n')[^1].Split('\t');
        Assert.Equal(expected.PredictedLabel, fields[0]);
        Assert.Equal(expected.Score.Max(), float.Parse(fields[1], CultureInfo.InvariantCulture));

        // Restored from the package (not a project), with its dependencies, and no libtorch among them.
        using var assets = JsonDocument.Parse(File.ReadAllText(Path.Combine(app, "obj", "project.assets.json")));
        var libraries = assets.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name).ToList();
        Assert.Contains($"Cifar.MLNet/{packages.Version}", libraries);
        Assert.Equal("package", assets.RootElement.GetProperty("libraries").GetProperty($"Cifar.MLNet/{packages.Version}").GetProperty("type").GetString());
        Assert.Contains($"Cifar.Trainer/{packages.Version}", libraries);
        Assert.DoesNotContain(libraries, l => l.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase) || l.StartsWith("TorchSharp-c", StringComparison.OrdinalIgnoreCase));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(app, "out"), "libtorch*", SearchOption.AllDirectories));
        // Zips name Cifar.MLNet's assembly at 1.0.0.0 (see build/Package.props): a package of any version must load them.
        Assert.Equal(new Version(1, 0, 0, 0), System.Reflection.AssemblyName.GetAssemblyName(Path.Combine(app, "out", "Cifar.MLNet.dll")).Version);
    }

    [Fact]
    public void The_tool_installs_into_a_folder_and_runs()
    {
        var source = packages.Require();
        var tools = packages.Work.File("tools");
        var (code, output) = ExternalLibtorchTests.Run(packages.Work.Path,
            "dotnet tool install Cifar.Tool --version \"$1\" --tool-path \"$2\" --add-source \"$3\" && \"$2/cifar\" --help", packages.Version, tools, source);
        Assert.True(code == 0, output);
        Assert.Contains("cifar serve --model model.zip", output);
        Assert.Empty(Directory.EnumerateFiles(tools, "libtorch*", SearchOption.AllDirectories));

        // The installed tool predicts as the library does, without libtorch.
        var image = Image();
        (code, output) = ExternalLibtorchTests.Run(packages.Work.Path, "\"$1/cifar\" predict --model \"$2\" --format tsv \"$3\"", tools, run.Model, image);
        Assert.True(code == 0, output);
        var fields = output.Trim().Split('\t');
        Assert.Equal(Expected(image).PredictedLabel, fields[1]);
    }
}
