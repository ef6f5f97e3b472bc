using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Cifar.Host.Cli;
using Cifar.Networks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;

namespace Cifar.Host.Configuration;

/// <summary>
/// Builds the configuration: JSON files in order (later ones win), then <c>CIFAR_</c> environment variables
/// (<c>CIFAR_Training__Epochs=3</c>), then command-line overrides (<c>--Training:Epochs=3</c>). Each source's keys and
/// value kinds are checked as it is read; the merged values then fill the option records (whose defaults apply to
/// what no source sets) and each record checks its own ranges. Any problem is a <see cref="UserError"/> naming the key
/// and the source it came from.
/// </summary>
internal static class ConfigLoader
{
    public const string EnvironmentPrefix = "CIFAR_";

    /// <summary>How the app's own sections become records and the config is written: enums by name.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        Converters = { new JsonStringEnumConverter(allowIntegerValues: false) },
    };

    /// <summary><see cref="Json"/>, one property per line: config.json, for people to read.</summary>
    public static readonly JsonSerializerOptions IndentedJson = new(Json) { WriteIndented = true };

    public static (CifarConfig Config, IConfigurationRoot Root) Load(
        IReadOnlyList<string> files, IReadOnlyList<KeyValuePair<string, string>> overrides,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var builder = new ConfigurationBuilder();
        // Networks are read whole from their file: a layer list is not a set of key/value pairs.
        NetworkInFile? network = null;
        foreach (var file in files)
        {
            var path = Path.GetFullPath(file);
            // The last file that mentions a network wins, null included, as for any other key.
            if (CheckJsonFile(file, path) is { } inFile) network = inFile;
            builder.AddJsonFile(path, optional: false, reloadOnChange: false);
        }
        environment ??= Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "");
        var fromEnvironment = environment.Where(e => e.Key.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
            .Select(e => KeyValuePair.Create(e.Key[EnvironmentPrefix.Length..].Replace("__", ":"), e.Value)).ToList();
        foreach (var (key, value) in fromEnvironment) CheckText($"environment variable {EnvironmentPrefix}{key.Replace(":", "__")}", key, value);
        builder.AddInMemoryCollection(fromEnvironment.Select(e => KeyValuePair.Create(e.Key, (string?)e.Value)));
        foreach (var (key, value) in overrides) CheckText($"command line --{key}", key, value);
        builder.AddCommandLine(overrides.Select(o => $"--{o.Key}={o.Value}").ToArray());

        IConfigurationRoot root;
        try
        {
            root = builder.Build();
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or IOException)
        {
            // The files were checked above; this is one changed or removed since.
            throw new UserError($"config: {TextEscaping.ControlCharacters(e.GetBaseException().Message)}", e);
        }
        try
        {
            var config = Bind(root, network);
            config.Validate();
            return (config, root);
        }
        catch (OptionsException e)
        {
            throw new UserError($"{SourceOf(root, e.Key)}: '{e.Key}' {e.Rule} (got {e.Value})", e);
        }
    }

    /// <summary>
    /// The records filled from the merged configuration: the defaults' own JSON with each configured value laid over
    /// it as its JSON kind (a number given as text on the command line becomes a number), the recipe's four sections
    /// then read by the library's one reader (<see cref="CifarRecipe.FromJson"/>, which also checks them) and the app's
    /// sections by the app.
    /// </summary>
    /// <exception cref="OptionsException">A recipe value is out of range.</exception>
    private static CifarConfig Bind(IConfigurationRoot root, NetworkInFile? network)
    {
        var tree = JsonSerializer.SerializeToNode(new CifarConfig(), Json)!.AsObject();
        LayValues(tree, root);
        LayLists(tree, root);
        if (network is not null)
            ((JsonObject)tree[nameof(CifarConfig.Model)]!)[nameof(ModelOptions.Network)] = JsonNode.Parse(network.Network?.ToJson() ?? "null");
        return Records(tree, root);
    }

    /// <summary>The object of <paramref name="tree"/> that holds <paramref name="leaf"/>'s value, made where missing.</summary>
    private static JsonObject Parent(JsonObject tree, Leaf leaf)
    {
        var parent = tree;
        foreach (var segment in leaf.Key.Split(':')[..^1])
            parent = parent[segment] as JsonObject ?? (JsonObject)(parent[segment] = new JsonObject());
        return parent;
    }

    /// <summary>Each single value the merged sources set, as its JSON kind (lists and networks are laid apart).</summary>
    private static void LayValues(JsonObject tree, IConfigurationRoot root)
    {
        foreach (var (key, value) in root.AsEnumerable().Where(e => e.Value is not null))
        {
            var (leaf, index) = Find(key);
            if (index is not null || leaf.Kind == LeafKind.Network) continue;
            Parent(tree, leaf)[leaf.Key.Split(':')[^1]] = leaf.Kind switch
            {
                LeafKind.Boolean => JsonValue.Create(bool.Parse(value!)),
                LeafKind.WholeNumber or LeafKind.Number => Number(value!),
                LeafKind.Text when value!.Length == 0 => null,
                _ => JsonValue.Create(value),
            };
        }
    }

    /// <summary>
    /// Each number list, source by source: a list given in a file replaces the one below it; an entry set alone
    /// (<c>--Normalization:Mean:1=0.25</c>) replaces only that entry, or appends it right after the last.
    /// </summary>
    private static void LayLists(JsonObject tree, IConfigurationRoot root)
    {
        foreach (var leaf in ConfigSchema.Leaves.Values.Where(l => l.Kind == LeafKind.NumberList))
        {
            var name = leaf.Key.Split(':')[^1];
            var list = (Parent(tree, leaf)[name] as JsonArray ?? new JsonArray()).Select(v => v?.DeepClone()).ToList();
            foreach (var provider in root.Providers)
            {
                var entries = provider.GetChildKeys(Array.Empty<string>(), leaf.Key).Distinct()
                    .Select(k => int.Parse(k, CultureInfo.InvariantCulture)).Order().ToList();
                if (entries.Count == 0) continue;
                if (provider is JsonConfigurationProvider) list.Clear();
                foreach (var i in entries)
                {
                    provider.TryGet($"{leaf.Key}:{i}", out var value);
                    if (i > list.Count)
                        throw new UserError($"{SourceOf(root, $"{leaf.Key}:{i}")}: '{leaf.Key}:{i}' leaves a gap: the list has {list.Count} entries, numbered from 0");
                    if (i == list.Count) list.Add(null);
                    list[i] = Number(value!);
                }
            }
            Parent(tree, leaf)[name] = new JsonArray(list.ToArray());
        }
    }

    /// <summary>The merged tree read into the records: the recipe's sections by the library's reader, the app's by the app.</summary>
    private static CifarConfig Records(JsonObject tree, IConfigurationRoot root)
    {
        try
        {
            var recipe = new JsonObject();
            foreach (var section in RecipeSections)
            {
                var node = tree[section];
                tree.Remove(section);
                recipe[section] = node;
            }
            var app = tree.Deserialize<CifarConfig>(Json)!;
            return app with { Recipe = CifarRecipe.FromJson(recipe.ToJsonString()) };
        }
        catch (JsonException e)
        {
            // Kinds and list gaps were checked per source; what is left is a value too large for its type (1e39 for a float).
            var key = System.Text.RegularExpressions.Regex.Replace((e.Path ?? "$").TrimStart('$', '.'), @"\[(\d+)\]", ":$1").Replace('.', ':');
            var leaf = ConfigSchema.Leaves.GetValueOrDefault(key) ?? ConfigSchema.Leaves.GetValueOrDefault(key[..Math.Max(0, key.LastIndexOf(':'))]);
            throw new UserError($"{SourceOf(root, key)}: '{key}' cannot be read as {leaf?.Expected ?? "its kind"}", e);
        }
    }

    private static readonly string[] RecipeSections =
        [nameof(CifarConfig.Model), nameof(CifarConfig.Training), nameof(CifarConfig.Normalization), nameof(CifarConfig.Augmentation)];

    /// <summary>A number a source gave (checked to be one): a JSON number, as a file would give it.</summary>
    private static JsonNode Number(string value) =>
        JsonValue.Create(ConfigNumbers.TryNumber(value, out var number) ? number : throw new InvalidOperationException($"'{value}' was checked to be a number"));

    /// <summary>The leaf a configuration key sets, and the array entry when it sets one.</summary>
    private static (Leaf Leaf, int? Index) Find(string key)
    {
        if (ConfigSchema.Leaves.TryGetValue(key, out var leaf)) return (leaf, null);
        var network = ConfigSchema.Leaves.Values.FirstOrDefault(l => l.Kind == LeafKind.Network && key.StartsWith(l.Key + ":", StringComparison.OrdinalIgnoreCase));
        if (network is not null) return (network, null);
        int colon = key.LastIndexOf(':');
        if (colon > 0 && ConfigSchema.Leaves.TryGetValue(key[..colon], out leaf) && leaf.Kind == LeafKind.NumberList
            && int.TryParse(key[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            return (leaf, index);
        throw new UserError($"unknown key '{key}'");
    }

    /// <summary>Where the value of <paramref name="key"/> came from, for messages: a file's path, the environment or the command line.</summary>
    public static string SourceOf(IConfigurationRoot root, string key)
    {
        foreach (var provider in root.Providers.Reverse())
        {
            if (!provider.TryGet(key, out _) && !provider.GetChildKeys(Array.Empty<string>(), key).Any()) continue;
            return provider switch
            {
                JsonConfigurationProvider json => json.Source.Path ?? "a config file",
                Microsoft.Extensions.Configuration.CommandLine.CommandLineConfigurationProvider => "command line",
                _ => "environment",
            };
        }
        return "defaults";
    }

    /// <summary>A file's <c>Model:Network</c>: the definition, or null when the file sets it to null.</summary>
    private sealed record NetworkInFile(NetworkDefinition? Network);

    /// <summary>Checks a file's keys and value kinds; returns its network when it mentions one.</summary>
    private static NetworkInFile? CheckJsonFile(string shownName, string path)
    {
        if (Directory.Exists(path)) throw new UserError($"{shownName}: is a folder, not a config file");
        if (!File.Exists(path)) throw new UserError($"{shownName}: config file not found");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(path),
                new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new UserError($"{shownName}: not valid JSON (line {e.LineNumber + 1}: {FirstSentence(e.Message)})", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserError($"{shownName}: cannot be read ({TextEscaping.ControlCharacters(e.Message)})", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new UserError($"{shownName}: the top level must be a JSON object");
            NetworkInFile? network = null;
            CheckObject(shownName, document.RootElement, "", ref network);
            return network;
        }
    }

    private static void CheckObject(string file, JsonElement element, string prefix, ref NetworkInFile? network)
    {
        // Keys are case-insensitive, so "epochs" and "Epochs" in one object are the same key given twice.
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in element.EnumerateObject())
        {
            var key = prefix.Length == 0 ? property.Name : $"{prefix}:{property.Name}";
            if (!seen.Add(property.Name)) throw new UserError($"{file}: '{key}' is given twice");
            var value = property.Value;
            if (ConfigSchema.Leaves.TryGetValue(key, out var leaf) && leaf.Kind == LeafKind.Network)
                network = new NetworkInFile(ReadNetwork(file, leaf, value));
            else if (leaf is not null)
                CheckJsonValue(file, leaf, value);
            else if (ConfigSchema.Sections.Contains(key) && value.ValueKind == JsonValueKind.Object)
                CheckObject(file, value, key, ref network);
            else if (ConfigSchema.Sections.Contains(key))
                throw new UserError($"{file}: '{key}' must be an object (got {Describe(value)})");
            else
                throw new UserError($"{file}: unknown key '{key}'");
        }
    }

    private static void CheckJsonValue(string file, Leaf leaf, JsonElement value)
    {
        bool ok = leaf.Kind switch
        {
            LeafKind.WholeNumber => value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out _)
                                    || value.ValueKind == JsonValueKind.Null && leaf.AcceptsNull,
            LeafKind.Number => IsFiniteNumber(value) || value.ValueKind == JsonValueKind.Null && leaf.AcceptsNull,
            LeafKind.Boolean => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
            LeafKind.Text => value.ValueKind is JsonValueKind.String or JsonValueKind.Null,
            LeafKind.Choice => value.ValueKind == JsonValueKind.String && IsChoice(leaf, value.GetString()!),
            LeafKind.NumberList => value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(IsFiniteNumber),
            _ => true,
        };
        if (!ok) throw new UserError($"{file}: '{leaf.Key}' must be {leaf.Expected} (got {Describe(value)})");
    }

    // 1e400 is JSON but no number a record can hold.
    private static bool IsFiniteNumber(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && double.IsFinite(number);

    private static NetworkDefinition? ReadNetwork(string file, Leaf leaf, JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Object) throw new UserError($"{file}: '{leaf.Key}' must be {leaf.Expected} (got {Describe(value)})");
        try
        {
            return NetworkDefinition.FromJson(value.GetRawText());
        }
        catch (NetworkDefinitionException e)
        {
            throw new UserError($"{file}: '{leaf.Key}': {TextEscaping.ControlCharacters(e.Message)}", e);
        }
    }

    private static bool IsChoice(Leaf leaf, string value) =>
        Enum.GetNames(leaf.Type).Contains(value, StringComparer.OrdinalIgnoreCase);

    private static void CheckText(string source, string key, string value)
    {
        Leaf leaf;
        int? index;
        try
        {
            (leaf, index) = Find(key);
        }
        catch (UserError)
        {
            int colon = key.LastIndexOf(':');
            if (colon > 0 && ConfigSchema.Leaves.TryGetValue(key[..colon], out var list) && list.Kind == LeafKind.NumberList)
                throw new UserError($"{source}: '{list.Key}' entries are numbered from 0 (got '{key[(colon + 1)..]}')");
            throw new UserError($"{source}: unknown key '{key}'");
        }
        if (leaf.Kind == LeafKind.Network) throw new UserError($"{source}: '{key}': a network is given whole, in a config file");
        bool ok = (index is null ? leaf.Kind : LeafKind.Number) switch
        {
            LeafKind.WholeNumber => ConfigNumbers.TryWholeNumber(value, out var whole) && whole is >= int.MinValue and <= int.MaxValue,
            LeafKind.Number => ConfigNumbers.TryNumber(value, out _),
            LeafKind.Boolean => bool.TryParse(value, out _),
            LeafKind.Choice => IsChoice(leaf, value),
            LeafKind.NumberList => false,
            _ => true,
        };
        if (!ok)
        {
            var expected = leaf.Kind == LeafKind.NumberList && index is null
                ? $"is set entry by entry ('{leaf.Key}:0', '{leaf.Key}:1', …)"
                : $"must be {(index is null ? leaf.Expected : "a number")}";
            throw new UserError($"{source}: '{key}' {expected} (got '{TextEscaping.ControlCharacters(value)}')");
        }
    }

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"\"{TextEscaping.ControlCharacters(value.GetString()!)}\"",
        JsonValueKind.Array => $"an array of {value.GetArrayLength()}",
        JsonValueKind.Object => "an object",
        _ => value.GetRawText(),
    };

    private static string FirstSentence(string message)
    {
        int end = message.IndexOf(". ", StringComparison.Ordinal);
        return TextEscaping.ControlCharacters(end > 0 ? message[..end] : message).TrimEnd('.');
    }
}
