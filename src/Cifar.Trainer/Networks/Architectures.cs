using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>The built-in networks a run can name in its options, and the builder for any definition.</summary>
internal static class Architectures
{
    private static readonly Dictionary<string, NetworkDefinition> BuiltIn =
        new(StringComparer.OrdinalIgnoreCase)
        {
            [SeedCnn.Name] = SeedCnn.Definition,
            [AirbenchNet.Name] = AirbenchNet.Definition,
        };

    /// <summary>The names accepted by <see cref="Create(string, int)"/> and <see cref="Definition"/>.</summary>
    public static IReadOnlyCollection<string> Names => BuiltIn.Keys;

    /// <summary>Whether <paramref name="name"/> names a built-in architecture (case-insensitive).</summary>
    public static bool IsKnown(string? name) => name is not null && BuiltIn.ContainsKey(name);

    /// <summary>The built-in network named <paramref name="name"/> (case-insensitive), as data.</summary>
    /// <exception cref="ArgumentException">The name is not one of <see cref="Names"/>.</exception>
    public static NetworkDefinition Definition(string name) =>
        BuiltIn.TryGetValue(name, out var definition)
            ? definition
            : throw new ArgumentException($"unknown architecture '{name}' (known: {string.Join(", ", Names)})", nameof(name));

    /// <summary>Builds the named built-in network for <paramref name="classCount"/> classes.</summary>
    /// <exception cref="ArgumentException">The name is not one of <see cref="Names"/>.</exception>
    public static Modules.Sequential Create(string name, int classCount) => Create(Definition(name), classCount);

    /// <summary>
    /// Builds <paramref name="definition"/> for <paramref name="classCount"/> classes and images of <paramref name="inputShape"/>
    /// ([C, H, W]; null: 3×32×32), freshly initialised: layers whose size follows from their input (a Linear after Flatten) fit it.
    /// </summary>
    /// <exception cref="NetworkDefinitionException">The definition does not check (<see cref="NetworkDefinition.Check"/>).</exception>
    public static Modules.Sequential Create(NetworkDefinition definition, int classCount, IReadOnlyList<int>? inputShape = null)
    {
        // TorchSharp 0.107's Conv2d leaves a temporary tensor of its bias initialisation alive; built
        // inside a dispose scope, the temporaries go with the scope and only the weights move out.
        using var scope = TorchSharp.torch.NewDisposeScope();
        var network = NetworkBuilder.Build(definition, classCount, inputShape);
        foreach (var parameter in network.parameters()) parameter.MoveToOuterDisposeScope();
        foreach (var buffer in network.buffers()) buffer.MoveToOuterDisposeScope();
        return network;
    }
}
