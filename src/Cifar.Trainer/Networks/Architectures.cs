using TorchSharp.Modules;

namespace Cifar.Trainer.Networks;

/// <summary>The networks a run can name in its options, by name.</summary>
public static class Architectures
{
    private static readonly Dictionary<string, Func<int, Sequential>> Builders =
        new(StringComparer.OrdinalIgnoreCase)
        {
            [SeedCnn.Name] = SeedCnn.Create,
        };

    /// <summary>The names accepted by <see cref="Create"/>.</summary>
    public static IReadOnlyCollection<string> Names => Builders.Keys;

    /// <summary>Whether <paramref name="name"/> names a known architecture (case-insensitive).</summary>
    public static bool IsKnown(string? name) => name is not null && Builders.ContainsKey(name);

    /// <summary>Builds the named network for <paramref name="classCount"/> classes.</summary>
    /// <exception cref="ArgumentException">The name is not one of <see cref="Names"/>.</exception>
    public static Sequential Create(string name, int classCount) =>
        Builders.TryGetValue(name, out var build)
            ? build(classCount)
            : throw new ArgumentException(
                $"unknown architecture '{name}' (known: {string.Join(", ", Names)})", nameof(name));
}
