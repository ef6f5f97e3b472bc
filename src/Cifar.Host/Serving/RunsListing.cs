using System.Text.Json.Nodes;
using Cifar.Host.Artifacts;
using Cifar.Host.Cli;
using Microsoft.AspNetCore.Http;

namespace Cifar.Host.Serving;

/// <summary>
/// The runs under --runs and their plots. Nothing in a request becomes a path: a run is looked up among the folders
/// found on disk, a plot among the known kinds. Symbolic links are neither listed nor served (a link in a run folder
/// could name any file on the machine).
/// </summary>
internal static class RunsListing
{
    /// <summary>Every run with its per-epoch rows (objects only) and the URLs of its plots (<see cref="RunLayout.Plots"/>).</summary>
    public static IReadOnlyList<RunSummary> List(ServeSettings settings) =>
        FindRuns(settings).Select(run => new RunSummary(run.Key, Epochs(run.Value),
            RunLayout.Plots.Where(plot => IsPlainFile(run.Value.PathOf(plot.File)))
                .ToDictionary(plot => plot.Kind, plot => $"/api/runs/{Uri.EscapeDataString(run.Key)}/{plot.Kind}.png"))).ToList();

    /// <summary>The plot's PNG, or a 404 problem naming what is missing.</summary>
    public static IResult GetPlot(string run, string kind, ServeSettings settings)
    {
        if (RunLayout.Plots.FirstOrDefault(plot => plot.Kind == kind).File is not { } plotFile)
            return Problems.Create(StatusCodes.Status404NotFound,
                $"no such plot '{TextEscaping.ControlCharacters(kind)}' (plots: {string.Join(", ", RunLayout.Plots.Select(plot => plot.Kind))})");
        if (!FindRuns(settings).TryGetValue(run, out var folder))
            return Problems.Create(StatusCodes.Status404NotFound, $"no such run '{TextEscaping.ControlCharacters(run)}'");
        var file = folder.PathOf(plotFile);
        return IsPlainFile(file) ? TypedResults.PhysicalFile(file, "image/png") : Problems.Create(StatusCodes.Status404NotFound, $"run '{run}' has no {kind} plot");
    }

    /// <summary>metrics.json's epoch rows; a file that is not an object with an array of objects gives none.</summary>
    private static JsonArray Epochs(RunLayout run)
    {
        var metrics = run.MetricsJson;
        var epochs = IsPlainFile(metrics) ? (JsonFiles.TryRead(metrics) as JsonObject)?["epochs"] as JsonArray : null;
        return new JsonArray(epochs?.OfType<JsonObject>().Select(row => (JsonNode)row.DeepClone()).ToArray() ?? []);
    }

    /// <summary>The runs under --runs by name: each real folder holding metrics.json (the folder itself when it is a run).</summary>
    private static Dictionary<string, RunLayout> FindRuns(ServeSettings settings)
    {
        var runs = new Dictionary<string, RunLayout>(StringComparer.Ordinal);
        if (settings.RunsFolder is not { } root || !Directory.Exists(root)) return runs;
        var full = Path.GetFullPath(root);
        if (IsRun(full)) runs[Path.GetFileName(full.TrimEnd(Path.DirectorySeparatorChar))] = new RunLayout(full);
        foreach (var folder in Directory.EnumerateDirectories(full).Order(StringComparer.Ordinal))
            if (new DirectoryInfo(folder).LinkTarget is null && IsRun(folder)) runs.TryAdd(Path.GetFileName(folder), new RunLayout(folder));
        return runs;
    }

    private static bool IsRun(string folder) => IsPlainFile(new RunLayout(folder).MetricsJson);

    /// <summary>A file that exists and is no symbolic link.</summary>
    private static bool IsPlainFile(string path)
    {
        var file = new FileInfo(path);
        return file.Exists && file.LinkTarget is null;
    }
}
