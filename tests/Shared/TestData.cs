namespace Cifar.Tests;

/// <summary>
/// Finds the real CIFAR-10 JPEG tree for tests that need real images: <c>CIFAR10_DATA</c>, else
/// <c>../shared/datasets/cifar10-jpeg</c> beside the repository. Without it such tests are skipped
/// with the reason, except under CI (<c>CI=true</c>), where missing data fails them.
/// </summary>
public static class TestData
{
    public static string? FindRoot()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("CIFAR10_DATA");
        if (!string.IsNullOrEmpty(fromEnvironment)) return Directory.Exists(fromEnvironment) ? fromEnvironment : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cifar.sln")))
            {
                var shared = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "datasets", "cifar10-jpeg"));
                return Directory.Exists(shared) ? shared : null;
            }
        }
        return null;
    }

    /// <summary>The data root, or a skip (a failure under CI) naming what is missing.</summary>
    public static string RequireRoot()
    {
        var root = FindRoot();
        if (root is not null) return root;
        const string reason = "real CIFAR-10 images not found: set CIFAR10_DATA or put the data at ../shared/datasets/cifar10-jpeg";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            Assert.Fail(reason);
        Assert.Skip(reason);
        return "";
    }

    /// <summary>
    /// Node.js from PATH, or the test failed saying how to get it: scripts/test.sh installs it
    /// (scripts/install-prerequisites.sh --tests), so a missing node is a broken setup, not a reason to skip.
    /// </summary>
    public static string RequireNode()
    {
        var node = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator)
            .Where(dir => dir.Length > 0).Select(dir => System.IO.Path.Combine(dir, "node")).FirstOrDefault(System.IO.File.Exists);
        Assert.True(node is not null, "node is not on PATH: scripts/install-prerequisites.sh --tests installs it (apt-get install nodejs)");
        return node!;
    }

    /// <summary>The repository's root: the folder above the tests that holds Cifar.sln.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Cifar.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("Cifar.sln not found above the tests");
    }

    /// <summary>A fresh temporary folder, deleted when disposed.</summary>
    public sealed class TempFolder : IDisposable
    {
        public TempFolder() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cifar-tests-" + Guid.NewGuid().ToString("N")));
        public string Path { get; }
        public string File(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}
