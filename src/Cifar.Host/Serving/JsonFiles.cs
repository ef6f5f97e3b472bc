using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cifar.Host.Serving;

/// <summary>Run files (config.json, metrics.json) read while a training run may be rewriting them.</summary>
internal static class JsonFiles
{
    /// <summary>The file's JSON, or null when it is missing, unreadable or not JSON (a file being replaced reads as absent).</summary>
    public static JsonNode? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }
}
