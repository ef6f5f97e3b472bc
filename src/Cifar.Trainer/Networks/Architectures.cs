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
    public static Sequential Create(string name, int classCount)
    {
        if (!Builders.TryGetValue(name, out var build))
            throw new ArgumentException($"unknown architecture '{name}' (known: {string.Join(", ", Names)})", nameof(name));
        // TorchSharp 0.107's Conv2d leaves a temporary tensor of its bias initialisation alive; built
        // inside a dispose scope, the temporaries go with the scope and only the weights move out.
        using var scope = TorchSharp.torch.NewDisposeScope();
        var network = build(classCount);
        foreach (var parameter in network.parameters()) parameter.MoveToOuterDisposeScope();
        foreach (var buffer in network.buffers()) buffer.MoveToOuterDisposeScope();
        return network;
    }
}
