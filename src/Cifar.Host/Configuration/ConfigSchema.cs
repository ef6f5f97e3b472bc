using System.Reflection;

namespace Cifar.Host.Configuration;

/// <summary>What a configuration value must be.</summary>
internal enum LeafKind { WholeNumber, Number, Boolean, Text, Choice, NumberList, Network }

/// <summary>One configuration key: its spelling as declared, its kind, its CLR type, and whether null (left out) is allowed.</summary>
internal sealed record Leaf(string Key, LeafKind Kind, Type Type, bool AcceptsNull)
{
    /// <summary>What a value must be, for messages ("a whole number", "one of Adam, Sgd").</summary>
    public string Expected => Kind switch
    {
        LeafKind.WholeNumber => "a whole number",
        LeafKind.Number => "a number",
        LeafKind.Boolean => "true or false",
        LeafKind.Choice => $"one of {string.Join(", ", Enum.GetNames(Type))}",
        LeafKind.NumberList => "a list of numbers",
        LeafKind.Network => "a network definition object (Name, Layers)",
        _ => "a string",
    };
}

/// <summary>
/// The configuration's keys and their kinds, read off <see cref="CifarConfig"/> and the library's option records it
/// holds: a new option is a new key without an edit here.
/// </summary>
internal static class ConfigSchema
{
    /// <summary>Leaf key (e.g. <c>Training:Epochs</c>, case-insensitive) → what it holds.</summary>
    public static IReadOnlyDictionary<string, Leaf> Leaves { get; } = Build();

    /// <summary>Section keys (e.g. <c>Training</c>, <c>Augmentation:ColorJitter</c>).</summary>
    public static IReadOnlySet<string> Sections { get; } =
        new HashSet<string>(Leaves.Keys.SelectMany(Prefixes), StringComparer.OrdinalIgnoreCase);

    private static IEnumerable<string> Prefixes(string key)
    {
        for (int i = key.IndexOf(':'); i > 0; i = key.IndexOf(':', i + 1)) yield return key[..i];
    }

    private static Dictionary<string, Leaf> Build()
    {
        var leaves = new Dictionary<string, Leaf>(StringComparer.OrdinalIgnoreCase);
        void Walk(Type type, string prefix)
        {
            // Settable properties and constructor parameters are options; computed ones (get only) are not.
            var names = type.GetConstructors().SelectMany(c => c.GetParameters()).Select(p => p.Name)
                .ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (!p.CanWrite && !names.Contains(p.Name)) continue;
                // A view of other keys (CifarConfig.Recipe) is not a key of its own.
                if (p.IsDefined(typeof(System.Text.Json.Serialization.JsonIgnoreAttribute))) continue;
                var key = prefix.Length == 0 ? p.Name : $"{prefix}:{p.Name}";
                var underlying = Nullable.GetUnderlyingType(p.PropertyType);
                var t = underlying ?? p.PropertyType;
                LeafKind? kind = t == typeof(int) || t == typeof(long) ? LeafKind.WholeNumber
                    : t == typeof(double) || t == typeof(float) ? LeafKind.Number
                    : t == typeof(bool) ? LeafKind.Boolean
                    : t == typeof(string) ? LeafKind.Text
                    : t.IsEnum ? LeafKind.Choice
                    : typeof(IEnumerable<float>).IsAssignableFrom(t) ? LeafKind.NumberList
                    : t == typeof(Cifar.Networks.NetworkDefinition) ? LeafKind.Network
                    : null;
                if (kind is { } k) leaves[key] = new Leaf(key, k, t, AcceptsNull: underlying is not null);
                else Walk(t, key);
            }
        }
        Walk(typeof(CifarConfig), "");
        return leaves;
    }
}
