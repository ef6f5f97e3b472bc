using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Cifar.Trainer.Native;


/// <summary>Which libtorch a process runs on: its folder and version.</summary>
/// <param name="Directory">The folder libtorch_cpu.so was loaded from, or null when unknown.</param>
/// <param name="Version">Its version (e.g. <c>2.10.0</c>, <c>2.11.0+cu130</c>), or <c>unknown</c>.</param>
internal sealed record LibtorchInfo(string? Directory, string Version)
{
    /// <summary>Whether the version is the one TorchSharp 0.107 is built for (<see cref="Libtorch.ExpectedVersion"/>).</summary>
    public bool IsExpectedVersion => Version == Libtorch.ExpectedVersion || Version.StartsWith(Libtorch.ExpectedVersion + ".", StringComparison.Ordinal)
                                     || Version.StartsWith(Libtorch.ExpectedVersion + "+", StringComparison.Ordinal);

    /// <summary>A line for logs: <c>libtorch 2.10.0 (DIR)</c>.</summary>
    public override string ToString() => $"libtorch {Version}" + (Directory is null ? "" : $" ({Directory})");

    /// <summary>The warning to show when the version is not the expected one, else null.</summary>
    public string? VersionWarning => IsExpectedVersion
        ? null
        : $"libtorch {Version} is not the {Libtorch.ExpectedVersion} that TorchSharp {Libtorch.TorchSharpVersion} is built for: operators whose C++ signature changed fail when first called";
}

/// <summary>
/// Loading libtorch from a folder of your choice (such as a PyTorch install's <c>torch/lib</c>, which
/// may be a CUDA build) and telling which libtorch a process runs on.
/// </summary>
/// <remarks>
/// TorchSharp has no setting for a libtorch folder: its native glue, <c>libLibTorchSharp.so</c>, links
/// <c>libtorch.so</c>, <c>libc10.so</c> and <c>libtorch_cpu.so</c> by name, and the dynamic linker
/// satisfies those names with libraries already loaded. <see cref="UseDirectory"/> therefore loads the
/// folder's <c>libtorch.so</c> (and <c>libtorch_cuda.so</c>) first, then binds the glue to them with every
/// symbol resolved at once, so a libtorch whose C++ API differs is refused here, naming the first missing
/// function, instead of aborting the process at its first call. Linux only.
/// </remarks>
internal static class Libtorch
{
    /// <summary>The libtorch version TorchSharp 0.107 is built against.</summary>
    public const string ExpectedVersion = "2.10";

    /// <summary>The TorchSharp version this project uses.</summary>
    public static string TorchSharpVersion => typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString(3) ?? "?";

    private const int RTLD_NOW = 2, RTLD_GLOBAL = 0x100;

    /// <summary>
    /// Loads libtorch from <paramref name="directory"/> for everything TorchSharp does next. Call it before
    /// anything touches TorchSharp, in an app built without a bundled libtorch (<c>-p:TorchBackend=none</c>),
    /// so two libtorch builds never share the process.
    /// </summary>
    /// <returns>The folder and its version.</returns>
    /// <exception cref="LibtorchLoadException">The folder has no libtorch, the app bundles one, libtorch is already
    /// loaded, or TorchSharp's glue cannot bind to this libtorch (the message names the first missing symbol).</exception>
    public static LibtorchInfo UseDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux()) throw new LibtorchLoadException($"{directory}: loading libtorch from a folder is supported on Linux only");
        if (directory.Length == 0 || directory.Contains('\0'))
            throw new LibtorchLoadException($"'{directory}': not a folder path (empty, or holding a NUL character)");
        directory = Path.GetFullPath(directory);
        var libtorch = Path.Combine(directory, "libtorch.so");
        if (!File.Exists(libtorch)) throw new LibtorchLoadException($"{directory}: no libtorch.so there (give the folder that holds it, e.g. a PyTorch install's torch/lib)");
        if (BundledLibtorch() is { } bundled)
            throw new LibtorchLoadException($"{directory}: this build also carries libtorch ({bundled}); build with -p:TorchBackend=none so the two never mix");
        if (LoadedLibtorchDirectory() is { } loaded)
            throw new LibtorchLoadException($"{directory}: libtorch is already loaded from {loaded}; choose the folder before anything uses TorchSharp");
        var info = new LibtorchInfo(directory, VersionOf(directory));
        var glue = GluePath() ?? throw new LibtorchLoadException($"libLibTorchSharp.so not found next to {AppContext.BaseDirectory} (is the TorchSharp package referenced?)");

        try
        {
            Open(libtorch, info, "libtorch");
            var cuda = Path.Combine(directory, "libtorch_cuda.so");
            if (File.Exists(cuda)) Open(cuda, info, "libtorch_cuda");
            Open(glue, info, "TorchSharp's native glue (libLibTorchSharp.so)", VersionedLink(libtorch));
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            throw new LibtorchLoadException($"{directory}: the dynamic loader (dlopen in libdl.so.2) cannot be called here: {e.Message}");
        }
        return info;
    }

    /// <summary>
    /// Fails fast, in one line, where TorchSharp would otherwise print a page and copy libtorch out of the
    /// NuGet cache into the app's folder: when the app carries no libtorch and none is loaded, it binds
    /// TorchSharp's glue now, every symbol at once, to whatever libtorch the dynamic linker finds
    /// (<c>LD_LIBRARY_PATH</c>, the system's libraries), and reports a missing or mismatched one.
    /// </summary>
    /// <exception cref="LibtorchLoadException">No libtorch found, or one TorchSharp cannot use.</exception>
    public static void ThrowIfNoneAvailable()
    {
        if (!OperatingSystem.IsLinux() || LoadedLibtorchDirectory() is not null || BundledLibtorch() is not null) return;
        if (GluePath() is not { } glue) return; // TorchSharp's own message names the missing package
        string? error;
        try
        {
            if (BindNow(glue, out error)) return;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return;
        }
        if (error.Contains("cannot open shared object file", StringComparison.Ordinal))
            throw new LibtorchLoadException(
                $"TorchSharp {TorchSharpVersion} needs libtorch {ExpectedVersion} and this app carries none (built with TorchBackend=none): " +
                "give a libtorch folder (Torch:LibraryPath; docs/gpu.md), or build with the default TorchBackend=cpu or TorchBackend=cuda");
        throw new LibtorchLoadException(
            $"the libtorch the dynamic linker finds (LD_LIBRARY_PATH or the system's libraries) cannot be used by TorchSharp {TorchSharpVersion} " +
            $"(built for {ExpectedVersion}): {Cause(error)}; give a libtorch {ExpectedVersion} folder (Torch:LibraryPath) or build with TorchBackend=cpu");
    }

    /// <summary>
    /// The libtorch this process has loaded: from /proc/self/maps, once TorchSharp is initialized (for
    /// example after the device is resolved). Null when none is loaded yet or the platform has no /proc.
    /// </summary>
    public static LibtorchInfo? Loaded() =>
        LoadedLibtorchDirectory() is { } directory ? new LibtorchInfo(directory, VersionOf(directory)) : null;

    /// <summary>
    /// The version of the libtorch in <paramref name="directory"/>: a PyTorch install's <c>torch/version.py</c>,
    /// a libtorch archive's <c>build-version</c>, a NuGet package path (<c>libtorch-cpu-linux-x64/2.10.0/…</c>),
    /// or, for the copy an app carries, the package version recorded at build time; else <c>unknown</c>.
    /// </summary>
    public static string VersionOf(string directory)
    {
        var parent = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(directory));
        if (parent is not null)
        {
            var versionPy = Path.Combine(parent, "version.py");
            if (File.Exists(versionPy)
                && Regex.Match(File.ReadAllText(versionPy), @"^__version__\s*=\s*['""]([^'""]+)['""]", RegexOptions.Multiline) is { Success: true } m)
                return m.Groups[1].Value;
            var buildVersion = Path.Combine(parent, "build-version");
            if (File.Exists(buildVersion) && File.ReadLines(buildVersion).FirstOrDefault()?.Trim() is { Length: > 0 } v)
                return v;
        }
        if (Regex.Match(directory.Replace('\\', '/'), @"/libtorch-[a-z0-9.\-]*?-(?:linux-x64|win-x64|osx-arm64)[^/]*/(\d+\.\d+\.\d+[^/]*)/", RegexOptions.IgnoreCase) is { Success: true } package)
            return package.Groups[1].Value;
        if (Path.GetFullPath(directory).StartsWith(Path.GetFullPath(AppContext.BaseDirectory), StringComparison.Ordinal)
            && Assembly.GetEntryAssembly()?.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "LibtorchPackageVersion")?.Value is { Length: > 0 } bundledVersion)
            return bundledVersion;
        return "unknown";
    }

    private static void Open(string path, LibtorchInfo info, string what, string? versionedLibtorch = null)
    {
        if (BindNow(path, out var error)) return;
        // The glue asks for "libtorch.so" by that name; a distribution's build (Debian's python3-torch) is named
        // libtorch.so.1.13 inside, so the loaded library does not answer for it and the search fails.
        var cause = versionedLibtorch is not null && error.StartsWith("libtorch.so: cannot open shared object file", StringComparison.Ordinal)
            ? $"it needs a library named libtorch.so, and this folder's libtorch.so is a link to a distribution's versioned build ({versionedLibtorch})"
            : Cause(error);
        throw new LibtorchLoadException(
            $"{info.Directory}: {what} cannot be loaded with libtorch {info.Version} (TorchSharp {TorchSharpVersion} is built for {ExpectedVersion}): " +
            cause);
    }

    /// <summary>The file name a libtorch.so link leads to when it is a versioned one (libtorch.so.1.13), else null.</summary>
    private static string? VersionedLink(string libtorch) =>
        new FileInfo(libtorch).ResolveLinkTarget(returnFinalTarget: false)?.Name is { } target && target.StartsWith("libtorch.so.", StringComparison.Ordinal)
            ? target : null;

    /// <summary>Loads a library for everyone with every symbol bound at once; false with the dynamic linker's complaint.</summary>
    private static bool BindNow(string path, [NotNullWhen(false)] out string? error)
    {
        // Binds the dlerror stub now (binding it later would go through dlsym and clear the error) and
        // clears any stale error.
        dlerror();
        if (dlopen(path, RTLD_NOW | RTLD_GLOBAL) != IntPtr.Zero)
        {
            error = null;
            return true;
        }
        error = Marshal.PtrToStringUTF8(dlerror()) ?? "unknown error";
        return false;
    }

    /// <summary>The dynamic linker's complaint, with a missing C++ function shown by its C++ name.</summary>
    private static string Cause(string dlerrorText)
    {
        var symbol = Regex.Match(dlerrorText, @"undefined symbol: (\S+)");
        return symbol.Success ? $"undefined symbol {Demangle(symbol.Groups[1].Value)}" : dlerrorText;
    }

    private static string? LoadedLibtorchDirectory() => LoadedLibraryPath() is { } path ? Path.GetDirectoryName(path) : null;

    /// <summary>The path of the libtorch_cpu.so this process has loaded (from /proc/self/maps), or null.</summary>
    internal static string? LoadedLibraryPath()
    {
        if (!File.Exists("/proc/self/maps")) return null;
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            int slash = line.IndexOf('/');
            if (slash >= 0 && line.EndsWith("/libtorch_cpu.so", StringComparison.Ordinal))
                return line[slash..];
        }
        return null;
    }

    private static IEnumerable<string> AppNativeFolders()
    {
        var app = AppContext.BaseDirectory;
        yield return app;
        yield return Path.Combine(app, "runtimes", "linux-x64", "native");
    }

    private static string? BundledLibtorch() =>
        AppNativeFolders().Select(d => Path.Combine(d, "libtorch_cpu.so")).FirstOrDefault(File.Exists);

    private static string? GluePath() =>
        AppNativeFolders().Select(d => Path.Combine(d, "libLibTorchSharp.so")).FirstOrDefault(File.Exists);

    /// <summary>The C++ name of a mangled symbol, through libstdc++'s own demangler (the mangled name if that fails).</summary>
    private static string Demangle(string mangled)
    {
        try
        {
            var text = __cxa_demangle(mangled, IntPtr.Zero, IntPtr.Zero, out int status);
            if (status != 0 || text == IntPtr.Zero) return mangled;
            try
            {
                return Marshal.PtrToStringUTF8(text) ?? mangled;
            }
            finally
            {
                free(text);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return mangled;
        }
    }

    // libdl.so.2: where glibc before 2.34 defines them; later ones keep it as a stub that resolves to libc.
    [DllImport("libdl.so.2", EntryPoint = "dlopen")]
    private static extern IntPtr dlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string file, int mode);

    [DllImport("libdl.so.2", EntryPoint = "dlerror")]
    private static extern IntPtr dlerror();

    [DllImport("libc", EntryPoint = "free")]
    private static extern void free(IntPtr pointer);

    [DllImport("libstdc++.so.6", EntryPoint = "__cxa_demangle")]
    private static extern IntPtr __cxa_demangle([MarshalAs(UnmanagedType.LPUTF8Str)] string mangled, IntPtr buffer, IntPtr length, out int status);
}
