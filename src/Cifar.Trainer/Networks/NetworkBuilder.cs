using TorchSharp;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

namespace Cifar.Networks;

/// <summary>A layer of a built network: its checked definition and the module built from it (a residual's body likewise).</summary>
internal sealed record BuiltLayer(ResolvedLayer Layer, nn.Module<Tensor, Tensor> Module, IReadOnlyList<BuiltLayer> Body)
{
    /// <summary><paramref name="layers"/> and their bodies', each before its body: the order TorchSharp's <c>modules()</c> walks.</summary>
    public static IEnumerable<BuiltLayer> All(IEnumerable<BuiltLayer> layers) => layers.SelectMany(l => All(l.Body).Prepend(l));
}

/// <summary>Builds the TorchSharp network a checked <see cref="NetworkDefinition"/> describes, each layer by its kind.</summary>
internal static class NetworkBuilder
{
    /// <summary>
    /// A freshly initialised network whose children carry the definition's layer names, so its state-dict keys are
    /// those names plus <c>.weight</c>, <c>.bias</c> … The layers are created in definition order, each with the
    /// arguments TorchSharp's own constructors take, so a seed gives the same weights as the hand-written network.
    /// </summary>
    /// <exception cref="NetworkDefinitionException">The definition does not check (<see cref="NetworkDefinition.Check"/>).</exception>
    public static Modules.Sequential Build(NetworkDefinition definition, int classCount, IReadOnlyList<int>? inputShape = null) =>
        nn.Sequential(BuildModules(NetworkShapes.Resolve(definition, classCount, inputShape)).ToArray());

    /// <summary>The modules of checked layers, named, built in order (a residual's body when its turn comes).</summary>
    public static IEnumerable<(string Name, nn.Module<Tensor, Tensor> Module)> BuildModules(IEnumerable<ResolvedLayer> layers) =>
        layers.Select(l => (l.Name, l.Kind.Build(l)));

    /// <summary>
    /// The layers of <paramref name="network"/>, built from <paramref name="definition"/> for <paramref name="classCount"/>
    /// classes and images of <paramref name="inputShape"/>, each with its checked definition, matched by name.
    /// </summary>
    /// <exception cref="ArgumentException">The network lacks a layer of the definition, or has one more.</exception>
    public static IReadOnlyList<BuiltLayer> Layers(Modules.Sequential network, NetworkDefinition definition, int classCount,
        IReadOnlyList<int>? inputShape = null) => Match(network, NetworkShapes.Resolve(definition, classCount, inputShape));

    private static IReadOnlyList<BuiltLayer> Match(nn.Module parent, IReadOnlyList<ResolvedLayer> layers)
    {
        var children = parent.named_children().ToDictionary(c => c.name, c => c.module);
        if (children.Count != layers.Count)
            throw new ArgumentException($"the network has {children.Count} layers where its definition has {layers.Count}");
        return layers.Select(l => children.GetValueOrDefault(l.Name) is nn.Module<Tensor, Tensor> module
                ? l.Kind.ModuleType.IsInstanceOfType(module)
                    ? new BuiltLayer(l, module, Match(module, l.Body))
                    : throw new ArgumentException($"the network's layer '{l.Path}' is a {module.GetType().Name}, where its definition builds a {l.Kind.ModuleType.Name}")
                : throw new ArgumentException($"the network has no layer '{l.Path}' of its definition"))
            .ToArray();
    }
}
