using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cifar.Trainer.Training;

/// <summary>
/// Names the settings that differ between two checkpoint fingerprints (<see cref="Checkpoint.Fingerprint"/>) as
/// configuration keys with both values (<c>Normalization:Mean:0 was 0.5, now 0.4</c>), so a refused resume says what
/// changed instead of printing both fingerprints.
/// </summary>
internal static class FingerprintDifference
{
    /// <summary>At most this many differences are named; the rest are counted.</summary>
    public const int MaxNamed = 4;

    // A fingerprint's top-level property → the configuration key it stands for and the record its values come from
    // (for enum names: the fingerprint writes enums as numbers).
    private static readonly Dictionary<string, (string Key, Type? Record)> Sections = new()
    {
        ["training"] = (TrainingOptions.Section, typeof(TrainingOptions)),
        ["normalization"] = (PixelNormalization.Section, typeof(PixelNormalization)),
        ["augmentation"] = (AugmentationOptions.Section, typeof(AugmentationOptions)),
        ["network"] = ($"{ModelOptions.Section}:Network", null),
        ["classCount"] = ("the data's class count", null),
        ["trainImages"] = ("the training images", null),
    };

    /// <summary>"Key was A, now B; …" for the differences of <paramref name="saved"/> from <paramref name="current"/>.</summary>
    public static string Describe(string saved, string current)
    {
        List<string> differences;
        try
        {
            differences = Differences(JsonNode.Parse(saved), JsonNode.Parse(current)).ToList();
        }
        catch (JsonException)
        {
            differences = [];
        }
        if (differences.Count == 0) return "the checkpoint's settings cannot be compared with this run's";
        var named = string.Join("; ", differences.Take(MaxNamed));
        return differences.Count > MaxNamed ? $"{named}; and {differences.Count - MaxNamed} more" : named;
    }

    private static IEnumerable<string> Differences(JsonNode? saved, JsonNode? current)
    {
        if (saved is not JsonObject savedRoot || current is not JsonObject currentRoot) yield break;
        foreach (var name in savedRoot.Select(p => p.Key).Union(currentRoot.Select(p => p.Key)))
        {
            var (key, record) = Sections.TryGetValue(name, out var section) ? section : (name, null);
            var (was, now) = (savedRoot[name], currentRoot[name]);
            if (WholeValues.TryGetValue(name, out var whole))
            {
                var (wasValue, nowValue) = (Format(was, null, whole.Absent), Format(now, null, whole.Absent));
                if (wasValue != nowValue) yield return string.Format(CultureInfo.InvariantCulture, whole.Difference, wasValue, nowValue);
                continue;
            }
            // Another network: its name says it; the layers' differences would only repeat it.
            if (name == "network" && was?["Name"]?.ToString() is { } wasName && now?["Name"]?.ToString() is { } nowName && wasName != nowName)
            {
                yield return $"the network was {wasName}, now {nowName}";
                continue;
            }
            foreach (var difference in Leaves(key, record, was, now)) yield return difference;
        }
    }

    /// <summary>The differing values under one key, as deep as both sides have the same shape.</summary>
    private static IEnumerable<string> Leaves(string key, Type? type, JsonNode? was, JsonNode? now)
    {
        if (JsonNode.DeepEquals(was, now)) yield break;
        if (was is JsonObject wasObject && now is JsonObject nowObject)
        {
            foreach (var name in wasObject.Select(p => p.Key).Union(nowObject.Select(p => p.Key)))
                foreach (var d in Leaves($"{key}:{name}", type?.GetProperty(name)?.PropertyType, wasObject[name], nowObject[name]))
                    yield return d;
        }
        else if (was is JsonArray wasArray && now is JsonArray nowArray && wasArray.Count == nowArray.Count)
        {
            for (int i = 0; i < wasArray.Count; i++)
                foreach (var d in Leaves($"{key}:{i}", ElementType(type), wasArray[i], nowArray[i]))
                    yield return d;
        }
        else
        {
            yield return $"{key} was {Format(was, type)}, now {Format(now, type)}";
        }
    }

    private static Type? ElementType(Type? list) =>
        list?.IsGenericType == true ? list.GetGenericArguments()[0] : list?.GetElementType();

    private static readonly string CifarShape = $"[{string.Join(", ", Cifar.Networks.NetworkDefinition.InputShape)}]";

    // Entries compared as one value each, with what their absence stands for: Checkpoint.Fingerprint records the image
    // shape only where it is not CIFAR's, and the features' statistics only for float features.
    private static readonly Dictionary<string, (string Difference, string Absent)> WholeValues = new()
    {
        ["imageShape"] = ("the image shape [C, H, W] was {0}, now {1}", CifarShape),
        ["features"] = ("the features' [means, stds] per channel were {0}, now {1}", "not recorded (pixels)"),
    };

    /// <summary>
    /// A value as the configuration writes it: enums by name, lists in brackets, a missing value as <paramref name="missing"/>,
    /// a missing enum as its first value (Checkpoint.Fingerprint leaves an enum out only where it is that default).
    /// </summary>
    private static string Format(JsonNode? value, Type? type, string missing = "not set")
    {
        var underlying = type is null ? null : Nullable.GetUnderlyingType(type) ?? type;
        if (value is null) return underlying?.IsEnum == true && underlying == type ? Enum.GetNames(underlying)[0] : missing;
        if (value is JsonObject) return "set"; // a whole section appeared or went: its values would only be noise
        if (underlying?.IsEnum == true && value is JsonValue v && v.TryGetValue<int>(out var number))
            return Enum.GetName(underlying, number) ?? number.ToString(CultureInfo.InvariantCulture);
        if (value is JsonArray array) return $"[{string.Join(", ", array.Select(e => Format(e, ElementType(type))))}]";
        return value is JsonValue s && s.TryGetValue<string>(out var text) ? text : value.ToJsonString();
    }
}
