namespace Cifar.Networks;

/// <summary>A layer of a checked definition: its final name, full weight-name prefix, kind and shapes (no batch dimension).</summary>
internal sealed record ResolvedLayer(string Name, string Path, Layer Layer, LayerKind Kind, int[] Input, int[] Output,
    IReadOnlyList<ResolvedLayer> Body);

/// <summary>
/// Names the layers of a definition and propagates shapes through them by each kind's rule, refusing what cannot be
/// built or exported.
/// </summary>
internal static class NetworkShapes
{
    /// <summary>
    /// The checked layers for images of <paramref name="inputShape"/> ([C, H, W]; null: <see cref="NetworkDefinition.InputShape"/>),
    /// or a <see cref="NetworkDefinitionException"/> naming the first wrong one (a kernel larger than what reaches it, say).
    /// </summary>
    public static IReadOnlyList<ResolvedLayer> Resolve(NetworkDefinition network, int classCount, IReadOnlyList<int>? inputShape = null)
    {
        string where = $"network '{network.Name}'";
        if (classCount < 1) throw new NetworkDefinitionException($"{where}: the class count must be at least 1 (got {classCount})");
        if (network.Layers is null || network.Layers.Count == 0) throw new NetworkDefinitionException($"{where} has no layers");
        var input = (inputShape ?? NetworkDefinition.InputShape).ToArray();
        if (input.Length != 3 || input.Any(d => d < 1))
            throw new NetworkDefinitionException($"{where}: the input must be an image shape [C, H, W] of positive sizes (got {Shape(input)})");
        var layers = ResolveList(network.Layers, input, classCount, where, "");
        var output = layers[^1].Output;
        if (output.Length != 1 || output[0] != classCount)
            throw new NetworkDefinitionException(
                $"{where} ends in {Shape(output)}; it must end in [{classCount}], one score per class" +
                (output.Length == 1 ? "" : " (end with Flatten or GlobalAvgPool, then Linear)"));
        return layers;
    }

    /// <summary>The layers of one list (a network's, or a residual body's) from <paramref name="input"/> on.</summary>
    internal static List<ResolvedLayer> ResolveList(IReadOnlyList<Layer> layers, int[] input, int classCount,
        string where, string pathPrefix)
    {
        var kinds = layers.Select(l => l is null ? null : LayerKinds.Of(l.GetType())).ToArray();
        var names = Names(layers, kinds, where);
        var resolved = new List<ResolvedLayer>(layers.Count);
        var shape = input;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            string at = $"{where}, layer {i + 1} '{names[i]}' ({layer.GetType().Name})";
            if (kinds[i] is not { } kind)
                throw new NetworkDefinitionException($"{at} is not supported (supported: {string.Join(", ", LayerKinds.BuiltIn.Select(t => t.Name))})");
            var check = new ShapeCheck(shape, classCount, at, pathPrefix + names[i] + ".");
            var output = kind.Output(layer, check);
            if (kind.ExportRefusal(layer) is { } refusal) check.Fail($"the ONNX export cannot express it: {refusal}");
            resolved.Add(new ResolvedLayer(names[i], pathPrefix + names[i], layer, kind, shape, output, check.ResolvedBody));
            shape = output;
        }
        return resolved;
    }

    /// <summary>Each layer's name: its own, or the first free default of its kind (conv1, conv2 …).</summary>
    private static string[] Names(IReadOnlyList<Layer> layers, LayerKind?[] kinds, string where)
    {
        var taken = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < layers.Count; i++)
        {
            if (layers[i] is null) throw new NetworkDefinitionException($"{where}, layer {i + 1} is null");
            if (layers[i].Name is not { } name) continue;
            string at = $"{where}, layer {i + 1} '{name}' ({layers[i].GetType().Name})";
            if (name.Length == 0 || name.Contains('.') || name.Any(char.IsWhiteSpace))
                throw new NetworkDefinitionException($"{at}: a name must be non-empty, without '.' or spaces");
            if (!taken.Add(name)) throw new NetworkDefinitionException($"{at}: the name is used by an earlier layer of the same list");
        }
        var counters = new Dictionary<string, int>(StringComparer.Ordinal);
        var names = new string[layers.Count];
        for (int i = 0; i < layers.Count; i++)
        {
            if (layers[i].Name is { } name) { names[i] = name; continue; }
            var prefix = kinds[i]?.NamePrefix ?? layers[i].GetType().Name.ToLowerInvariant();
            int n = counters.GetValueOrDefault(prefix);
            string candidate;
            do candidate = prefix + ++n; while (!taken.Add(candidate));
            counters[prefix] = n;
            names[i] = candidate;
        }
        return names;
    }

    internal static string Shape(IEnumerable<int> shape) => $"[{string.Join(",", shape)}]";
}

/// <summary>
/// What a layer kind's shape rule sees (the input shape, the class count) and the checks it states its rules with; a
/// failed check throws a <see cref="NetworkDefinitionException"/> naming the layer.
/// </summary>
internal sealed class ShapeCheck(int[] input, int classCount, string at, string bodyPath)
{
    /// <summary>The shape reaching the layer, without the batch dimension.</summary>
    public int[] Input { get; } = input;

    /// <summary>The number of classes the network scores.</summary>
    public int ClassCount { get; } = classCount;

    /// <summary>The checked layers of a body resolved by <see cref="Body"/>, or none.</summary>
    internal IReadOnlyList<ResolvedLayer> ResolvedBody { get; private set; } = [];

    /// <summary>Throws the one-line error: the layer, then <paramref name="what"/>.</summary>
    public void Fail(string what) => throw new NetworkDefinitionException($"{at}: {what}");

    /// <summary>Checks that <paramref name="value"/> is at least 1.</summary>
    public void Positive(int value, string what)
    {
        if (value < 1) Fail($"{what} must be at least 1 (got {value})");
    }

    /// <summary>Checks that <paramref name="value"/> is finite and above 0.</summary>
    public void Positive(double value, string what)
    {
        if (!(value > 0) || double.IsInfinity(value)) Fail($"{what} must be positive (got {value})");
    }

    /// <summary>Checks that the input is an image, [C, H, W].</summary>
    public void Image()
    {
        if (Input.Length != 3) Fail($"needs a [C, H, W] input but gets {NetworkShapes.Shape(Input)}");
    }

    /// <summary>Height and width after a square window slides over the input (floor, as TorchSharp computes them).</summary>
    public int[] Window(int kernel, int stride, int padding)
    {
        int height = Input[1] + 2 * padding, width = Input[2] + 2 * padding;
        if (kernel > height || kernel > width)
            Fail($"kernel {kernel}×{kernel} is larger than its input {NetworkShapes.Shape(Input)}" + (padding > 0 ? $" padded by {padding}" : ""));
        return [(height - kernel) / stride + 1, (width - kernel) / stride + 1];
    }

    /// <summary>The output of a pooling window per channel (stride null: the kernel, windows side by side).</summary>
    public int[] Pool(int kernel, int? stride)
    {
        Positive(kernel, "KernelSize");
        if (stride is { } s) Positive(s, "Stride");
        Image();
        return [Input[0], .. Window(kernel, stride ?? kernel, 0)];
    }

    /// <summary>
    /// Resolves <paramref name="layers"/> as a body fed with <see cref="Input"/>, its names scoped by the layer's
    /// (<c>residual1.conv1</c>); returns them.
    /// </summary>
    public IReadOnlyList<ResolvedLayer> Body(IReadOnlyList<Layer>? layers)
    {
        if (layers is null || layers.Count == 0) Fail("the body has no layers");
        return ResolvedBody = NetworkShapes.ResolveList(layers!, Input, ClassCount, at, bodyPath);
    }
}
