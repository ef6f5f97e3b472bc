using System.Reflection;

namespace Cifar.Host.Configuration;

/// <summary>The configuration's keys and their types, read off <see cref="CifarConfig"/>.</summary>
internal static class ConfigSchema
{
    /// <summary>Leaf key (e.g. <c>Training:Epochs</c>, case-insensitive) → its CLR type.</summary>
    public static IReadOnlyDictionary<string, Type> Leaves { get; } = Build();

    /// <summary>Section keys (e.g. <c>Training</c>, <c>Augmentation:ColorJitter</c>).</summary>
    public static IReadOnlySet<string> Sections { get; } =
        new HashSet<string>(Leaves.Keys.SelectMany(Prefixes), StringComparer.OrdinalIgnoreCase);

    private static IEnumerable<string> Prefixes(string key)
    {
        for (int i = key.IndexOf(':'); i > 0; i = key.IndexOf(':', i + 1)) yield return key[..i];
    }

    private static Dictionary<string, Type> Build()
    {
        var leaves = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase);
        void Walk(Type type, string prefix)
        {
            foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                var key = prefix.Length == 0 ? p.Name : $"{prefix}:{p.Name}";
                var t = p.PropertyType;
                if (t.IsClass && t != typeof(string) && !t.IsArray) Walk(t, key);
                else leaves[key] = t;
            }
        }
        Walk(typeof(CifarConfig), "");
        return leaves;
    }
}
