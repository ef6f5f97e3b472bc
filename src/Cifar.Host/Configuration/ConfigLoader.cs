using System.Globalization;
using System.Text.Json;
using Cifar.Host.Cli;
using Cifar.Trainer.Networks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;

namespace Cifar.Host.Configuration;

/// <summary>
/// Builds the configuration: JSON files in order (later ones win), then <c>CIFAR_</c> environment
/// variables (<c>CIFAR_Training__Epochs=3</c>), then command-line overrides (<c>--Training:Epochs=3</c>).
/// Every key and value is checked before binding; a problem is a <see cref="UserError"/> naming the
/// key and where it came from.
/// </summary>
internal static class ConfigLoader
{
    public const string EnvironmentPrefix = "CIFAR_";
    private static readonly string[] ArrayKeys = { "Normalization:Mean", "Normalization:Std" };

    public static (CifarConfig Config, IConfigurationRoot Root) Load(
        IReadOnlyList<string> files, IReadOnlyList<KeyValuePair<string, string>> overrides,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        // Array defaults live in the bottom layer, so that one entry can be overridden on its own.
        var builder = new ConfigurationBuilder().AddInMemoryCollection(
            ArrayKeys.SelectMany(key => NormalizationConfig.TutorialValue.Select((v, i) =>
                new KeyValuePair<string, string?>($"{key}:{i}", v.ToString(CultureInfo.InvariantCulture)))));
        foreach (var file in files)
        {
            var path = Path.GetFullPath(file);
            CheckJsonFile(file, path);
            builder.AddJsonFile(path, optional: false, reloadOnChange: false);
        }
        environment ??= Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "");
        foreach (var (name, value) in environment.Where(e => e.Key.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase)))
            CheckText($"environment variable {name}", name[EnvironmentPrefix.Length..].Replace("__", ":"), value);
        builder.AddInMemoryCollection(environment
            .Where(e => e.Key.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
            .Select(e => new KeyValuePair<string, string?>(e.Key[EnvironmentPrefix.Length..].Replace("__", ":"), e.Value)));
        foreach (var (key, value) in overrides) CheckText($"command line --{key}", key, value);
        builder.AddCommandLine(overrides.Select(o => $"--{o.Key}={o.Value}").ToArray());

        var root = builder.Build();
        var config = new CifarConfig();
        root.Bind(config);
        Validate(config, root);
        return (config, root);
    }

    /// <summary>Where the value of <paramref name="key"/> came from, for messages.</summary>
    public static string SourceOf(IConfigurationRoot root, string key)
    {
        var defaults = root.Providers.First();
        foreach (var provider in root.Providers.Reverse())
        {
            if (!provider.TryGet(key, out _) && !provider.GetChildKeys(Array.Empty<string>(), key).Any()) continue;
            if (ReferenceEquals(provider, defaults)) break;
            return provider switch
            {
                JsonConfigurationProvider json => json.Source.Path ?? "a config file",
                Microsoft.Extensions.Configuration.CommandLine.CommandLineConfigurationProvider => "command line",
                EnvironmentVariablesConfigurationProvider => "environment",
                _ => "environment",
            };
        }
        return "defaults";
    }

    private static void CheckJsonFile(string shownName, string path)
    {
        if (!File.Exists(path)) throw new UserError($"{shownName}: config file not found");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(path),
                new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new UserError($"{shownName}: not valid JSON (line {e.LineNumber + 1}: {FirstSentence(e.Message)})");
        }
        catch (IOException e)
        {
            throw new UserError($"{shownName}: cannot be read ({e.Message})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new UserError($"{shownName}: the top level must be a JSON object");
            CheckObject(shownName, document.RootElement, "");
        }
    }

    private static void CheckObject(string file, JsonElement element, string prefix)
    {
        foreach (var property in element.EnumerateObject())
        {
            var key = prefix.Length == 0 ? property.Name : $"{prefix}:{property.Name}";
            var value = property.Value;
            if (ConfigSchema.Leaves.TryGetValue(key, out var type))
                CheckJsonValue(file, key, type, value);
            else if (ConfigSchema.Sections.Contains(key) && value.ValueKind == JsonValueKind.Object)
                CheckObject(file, value, key);
            else if (ConfigSchema.Sections.Contains(key))
                throw new UserError($"{file}: '{key}' must be an object");
            else
                throw new UserError($"{file}: unknown key '{key}'");
        }
    }

    private static void CheckJsonValue(string file, string key, Type type, JsonElement value)
    {
        string? problem = type switch
        {
            _ when type == typeof(int) => value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out _) ? null : "a whole number",
            _ when type == typeof(double) || type == typeof(float) => value.ValueKind == JsonValueKind.Number ? null : "a number",
            _ when type == typeof(bool) => value.ValueKind is JsonValueKind.True or JsonValueKind.False ? null : "true or false",
            _ when type == typeof(string) => value.ValueKind is JsonValueKind.String or JsonValueKind.Null ? null : "a string",
            _ when type == typeof(float[]) => value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 3
                && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.Number) ? null : "3 numbers (R, G, B)",
            _ => null,
        };
        if (problem is not null) throw new UserError($"{file}: '{key}' must be {problem} (got {Describe(value)})");
    }

    private static void CheckText(string source, string key, string value)
    {
        var arrayKey = ArrayKeys.FirstOrDefault(a => key.StartsWith(a + ":", StringComparison.OrdinalIgnoreCase));
        if (arrayKey is not null)
        {
            var index = key[(arrayKey.Length + 1)..];
            if (index is not ("0" or "1" or "2")) throw new UserError($"{source}: '{arrayKey}' has 3 entries, 0 to 2 (got index '{index}')");
            if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                throw new UserError($"{source}: '{key}' must be a number (got '{value}')");
            return;
        }
        if (!ConfigSchema.Leaves.TryGetValue(key, out var type))
            throw new UserError($"{source}: unknown key '{key}'");
        bool ok = type switch
        {
            _ when type == typeof(int) => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _),
            _ when type == typeof(double) || type == typeof(float) => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _),
            _ when type == typeof(bool) => bool.TryParse(value, out _),
            _ when type == typeof(float[]) => false,
            _ => true,
        };
        if (!ok)
        {
            string expected = type == typeof(float[]) ? $"set entry by entry ('{key}:0' … '{key}:2')" : $"must be {Expected(type)}";
            throw new UserError($"{source}: '{key}' {expected} (got '{value}')");
        }
    }

    private static string Expected(Type type) =>
        type == typeof(int) ? "a whole number" : type == typeof(bool) ? "true or false" : "a number";

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"\"{value.GetString()}\"",
        JsonValueKind.Array => $"an array of {value.GetArrayLength()}",
        JsonValueKind.Object => "an object",
        _ => value.GetRawText(),
    };

    private static string FirstSentence(string message)
    {
        int end = message.IndexOf(". ", StringComparison.Ordinal);
        return (end > 0 ? message[..end] : message).Replace('\n', ' ').TrimEnd('.');
    }

    private static void Validate(CifarConfig c, IConfigurationRoot root)
    {
        void Check(bool ok, string key, string rule, object? got)
        {
            if (!ok) throw new UserError($"{SourceOf(root, key)}: '{key}' {rule} (got {Format(got)})");
        }
        Check(c.Data.TrainLimit >= 0, "Data:TrainLimit", "must be 0 (all) or more", c.Data.TrainLimit);
        Check(c.Data.ValidationLimit >= 0, "Data:ValidationLimit", "must be 0 (all) or more", c.Data.ValidationLimit);
        Check(c.Data.DownloadMd5.Length == 32 && c.Data.DownloadMd5.All(Uri.IsHexDigit), "Data:DownloadMd5", "must be 32 hex digits", c.Data.DownloadMd5);
        Check(Uri.TryCreate(c.Data.DownloadUrl, UriKind.Absolute, out var url) && url.Scheme is "http" or "https", "Data:DownloadUrl", "must be an http or https URL", c.Data.DownloadUrl);
        Check(Architectures.IsKnown(c.Model.Architecture), "Model:Architecture", $"must be one of {string.Join(", ", Architectures.Names)}", c.Model.Architecture);
        Check(c.Training.Epochs > 0, "Training:Epochs", "must be greater than 0", c.Training.Epochs);
        Check(c.Training.BatchSize > 0, "Training:BatchSize", "must be greater than 0", c.Training.BatchSize);
        Check(Enum.TryParse<Cifar.Trainer.Training.OptimizerKind>(c.Training.Optimizer, ignoreCase: true, out _) && !int.TryParse(c.Training.Optimizer, out _),
            "Training:Optimizer", "must be Adam or Sgd", c.Training.Optimizer);
        Check(c.Training.LearningRate > 0 && double.IsFinite(c.Training.LearningRate), "Training:LearningRate", "must be greater than 0", c.Training.LearningRate);
        Check(c.Training.WeightDecay >= 0 && double.IsFinite(c.Training.WeightDecay), "Training:WeightDecay", "must be 0 or more", c.Training.WeightDecay);
        Check(c.Training.Device.ToLowerInvariant() is "auto" or "cpu" or "cuda", "Training:Device", "must be auto, cpu or cuda", c.Training.Device);
        Check(c.Normalization.Mean.Length == 3 && c.Normalization.Mean.All(float.IsFinite), "Normalization:Mean", "must be 3 finite numbers (R, G, B)", c.Normalization.Mean);
        Check(c.Normalization.Std.Length == 3 && c.Normalization.Std.All(s => float.IsFinite(s) && s > 0), "Normalization:Std", "must be 3 numbers greater than 0 (R, G, B)", c.Normalization.Std);
        var a = c.Augmentation;
        Check(a.HorizontalFlipProbability is >= 0 and <= 1, "Augmentation:HorizontalFlipProbability", "must be in [0, 1]", a.HorizontalFlipProbability);
        Check(a.RotationDegrees is >= 0 and <= 180, "Augmentation:RotationDegrees", "must be in [0, 180]", a.RotationDegrees);
        Check(a.ColorJitter.Brightness >= 0 && double.IsFinite(a.ColorJitter.Brightness), "Augmentation:ColorJitter:Brightness", "must be a number, 0 or more", a.ColorJitter.Brightness);
        Check(a.ColorJitter.Contrast >= 0 && double.IsFinite(a.ColorJitter.Contrast), "Augmentation:ColorJitter:Contrast", "must be a number, 0 or more", a.ColorJitter.Contrast);
        Check(a.ColorJitter.Saturation >= 0 && double.IsFinite(a.ColorJitter.Saturation), "Augmentation:ColorJitter:Saturation", "must be a number, 0 or more", a.ColorJitter.Saturation);
        Check(a.ColorJitter.Hue is >= 0 and <= 0.5, "Augmentation:ColorJitter:Hue", "must be in [0, 0.5]", a.ColorJitter.Hue);
    }

    private static string Format(object? value) => value switch
    {
        null => "nothing",
        string s => $"'{s}'",
        float[] f => $"[{string.Join(", ", f.Select(x => x.ToString(CultureInfo.InvariantCulture)))}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
