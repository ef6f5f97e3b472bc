using System.Text.Json;

namespace Cifar.Networks;

/// <summary>
/// A network as data: its layers in order, from a 3×32×32 image to one score per class. Built into a TorchSharp
/// network by the trainer, written into JSON configs and checkpoint fingerprints.
/// </summary>
/// <param name="Name">The network's name, for messages and fingerprints.</param>
/// <param name="Layers">The layers, first to last.</param>
public sealed record NetworkDefinition(string Name, IReadOnlyList<Layer> Layers)
{
    /// <summary>The input a network takes unless told otherwise: CIFAR's channels, height, width.</summary>
    public static IReadOnlyList<int> InputShape { get; } = Array.AsReadOnly(new[] { 3, 32, 32 });

    /// <summary>The layer kinds the trainer can build and export.</summary>
    public static IReadOnlyList<string> SupportedLayerTypes { get; } = Array.AsReadOnly(LayerKinds.BuiltIn.Select(t => t.Name).ToArray());

    /// <summary>
    /// Walks the layers from the 3×32×32 input and throws at the first that cannot be built or exported, so a network
    /// that passes trains and exports. Checked: layers' own values, kernels larger than their input, layers given an
    /// input of the wrong rank (a Linear on [C, H, W]), residual bodies that change the shape, layer names (unique
    /// within their list, no '.'), unsupported layer kinds, layers the ONNX export cannot express, and a last output of
    /// other than [<paramref name="classCount"/>].
    /// </summary>
    /// <param name="classCount">The number of classes the network must score.</param>
    /// <exception cref="NetworkDefinitionException">A layer is wrong; the one-line message names it.</exception>
    /// <param name="inputShape">The images' [C, H, W]; null: <see cref="InputShape"/>.</param>
    public void Check(int classCount, IReadOnlyList<int>? inputShape = null) => NetworkShapes.Resolve(this, classCount, inputShape);

    /// <summary>The definition as JSON (layers carry their kind in a <c>Type</c> property).</summary>
    /// <param name="indented">Whether to write one property per line.</param>
    public string ToJson(bool indented = false) =>
        JsonSerializer.Serialize(this, indented ? IndentedJson : CompactJson);

    /// <summary>Reads a definition written as JSON; a layer's <c>Type</c> may come anywhere in its object.</summary>
    /// <exception cref="NetworkDefinitionException">The JSON is malformed or names an unknown layer type.</exception>
    public static NetworkDefinition FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<NetworkDefinition>(json, CompactJson)
                   ?? throw new NetworkDefinitionException("a network definition is null");
        }
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            throw new NetworkDefinitionException($"unreadable network definition ({ErrorText.FirstLine(e.Message)})");
        }
    }

    /// <summary>Equal when the names and the layers are equal, in order (layer lists compare by content).</summary>
    public bool Equals(NetworkDefinition? other) =>
        other is not null && Name == other.Name && SameLayers(Layers, other.Layers);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Name, LayersHash(Layers));

    internal static bool SameLayers(IReadOnlyList<Layer>? a, IReadOnlyList<Layer>? b) =>
        ReferenceEquals(a, b) || (a is not null && b is not null && a.SequenceEqual(b));

    internal static int LayersHash(IReadOnlyList<Layer>? layers)
    {
        var hash = new HashCode();
        foreach (var layer in layers ?? []) hash.Add(layer);
        return hash.ToHashCode();
    }

    // Read as the config files around it are: any case, comments and trailing commas allowed, unknown keys refused.
    internal static readonly JsonSerializerOptions CompactJson = new()
    {
        AllowOutOfOrderMetadataProperties = true,
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };
    private static readonly JsonSerializerOptions IndentedJson = new(CompactJson) { WriteIndented = true };
}

/// <summary>A network definition that cannot be built; the message, one line, names the layer and what is wrong.</summary>
public sealed class NetworkDefinitionException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public NetworkDefinitionException(string message) : base(message) { }
}
