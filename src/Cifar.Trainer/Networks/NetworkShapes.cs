namespace Cifar.Networks;

/// <summary>A layer of a checked definition: its final name, full weight-name prefix and shapes (no batch dimension).</summary>
internal sealed record ResolvedLayer(string Name, string Path, Layer Layer, int[] Input, int[] Output,
    IReadOnlyList<ResolvedLayer> Body);

/// <summary>Names the layers of a definition and propagates shapes through them, refusing what cannot be built.</summary>
internal static class NetworkShapes
{
    internal static readonly string[] SupportedTypes =
    [
        nameof(Conv2d), nameof(BatchNorm2d), nameof(Relu), nameof(Gelu), nameof(MaxPool2d), nameof(AvgPool2d),
        nameof(GlobalAvgPool), nameof(Dropout), nameof(Flatten), nameof(Linear), nameof(Residual),
        nameof(PatchWhitening), nameof(Scale),
    ];

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

    /// <summary>The default name prefix of a layer kind.</summary>
    private static string Prefix(Layer layer) => layer switch
    {
        Conv2d => "conv",
        BatchNorm2d => "bn",
        Relu => "relu",
        Gelu => "gelu",
        MaxPool2d => "maxpool",
        AvgPool2d => "avgpool",
        GlobalAvgPool => "globalpool",
        Dropout => "dropout",
        Flatten => "flatten",
        Linear => "fc",
        Residual => "residual",
        PatchWhitening => "whiten",
        Scale => "scale",
        _ => layer.GetType().Name.ToLowerInvariant(),
    };

    private static List<ResolvedLayer> ResolveList(IReadOnlyList<Layer> layers, int[] input, int classCount,
        string where, string pathPrefix)
    {
        var names = Names(layers, where);
        var resolved = new List<ResolvedLayer>(layers.Count);
        var shape = input;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            string at = $"{where}, layer {i + 1} '{names[i]}' ({layer.GetType().Name})";
            IReadOnlyList<ResolvedLayer> body = [];
            int[] output;
            if (layer is Residual residual)
            {
                if (residual.Body is null || residual.Body.Count == 0) throw new NetworkDefinitionException($"{at}: the body has no layers");
                var inner = ResolveList(residual.Body, shape, classCount, at, pathPrefix + names[i] + ".");
                if (!inner[^1].Output.SequenceEqual(shape))
                    throw new NetworkDefinitionException(
                        $"{at}: the body turns {Shape(shape)} into {Shape(inner[^1].Output)}; it must give back the shape it was given");
                body = inner;
                output = shape;
            }
            else
            {
                output = Output(layer, shape, classCount, at);
            }
            resolved.Add(new ResolvedLayer(names[i], pathPrefix + names[i], layer, shape, output, body));
            shape = output;
        }
        return resolved;
    }

    /// <summary>Each layer's name: its own, or the first free default of its kind (conv1, conv2 …).</summary>
    private static string[] Names(IReadOnlyList<Layer> layers, string where)
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
            var prefix = Prefix(layers[i]);
            int n = counters.GetValueOrDefault(prefix);
            string candidate;
            do candidate = prefix + ++n; while (!taken.Add(candidate));
            counters[prefix] = n;
            names[i] = candidate;
        }
        return names;
    }

    private static int[] Output(Layer layer, int[] input, int classCount, string at)
    {
        switch (layer)
        {
            case Conv2d c:
                Positive(c.OutChannels, "OutChannels", at);
                Positive(c.KernelSize, "KernelSize", at);
                Positive(c.Stride, "Stride", at);
                if (c.Padding < 0) Fail(at, $"Padding must be 0 or more (got {c.Padding})");
                Image(input, at);
                return [c.OutChannels, .. Window(input, c.KernelSize, c.Stride, c.Padding, at)];
            case BatchNorm2d b:
                if (!(b.Momentum >= 0 && b.Momentum <= 1)) Fail(at, $"Momentum must be in [0, 1] (got {b.Momentum})");
                if (!(b.Epsilon > 0) || double.IsInfinity(b.Epsilon)) Fail(at, $"Epsilon must be positive (got {b.Epsilon})");
                Image(input, at);
                return input;
            case Relu or Gelu:
                return input;
            case Scale sc:
                if (!double.IsFinite(sc.Factor)) Fail(at, $"Factor must be a finite number (got {sc.Factor})");
                return input;
            case PatchWhitening w:
                Positive(w.KernelSize, "KernelSize", at);
                Positive(w.InitImages, "InitImages", at);
                if (w.BiasEpochs < 0) Fail(at, $"BiasEpochs must be 0 or more (got {w.BiasEpochs})");
                if (!(w.Epsilon > 0) || double.IsInfinity(w.Epsilon)) Fail(at, $"Epsilon must be positive (got {w.Epsilon})");
                Image(input, at);
                return [2 * input[0] * w.KernelSize * w.KernelSize, .. Window(input, w.KernelSize, 1, 0, at)];
            case MaxPool2d m:
                return Pool(input, m.KernelSize, m.Stride, at);
            case AvgPool2d a:
                return Pool(input, a.KernelSize, a.Stride, at);
            case GlobalAvgPool:
                Image(input, at);
                return [input[0]];
            case Dropout d:
                if (!(d.Probability >= 0 && d.Probability < 1)) Fail(at, $"Probability must be in [0, 1) (got {d.Probability})");
                return input;
            case Flatten:
                return [input.Aggregate(1, (a, b) => a * b)];
            case Linear l:
                if (input.Length != 1)
                    Fail(at, $"needs a flat input but gets {Shape(input)} (put Flatten or GlobalAvgPool before it)");
                int outFeatures = l.OutFeatures ?? classCount;
                Positive(outFeatures, "OutFeatures", at);
                return [outFeatures];
            default:
                throw new NetworkDefinitionException(
                    $"{at} is not supported (supported: {string.Join(", ", SupportedTypes)})");
        }
    }

    private static int[] Pool(int[] input, int kernel, int? stride, string at)
    {
        Positive(kernel, "KernelSize", at);
        if (stride is { } s) Positive(s, "Stride", at);
        Image(input, at);
        return [input[0], .. Window(input, kernel, stride ?? kernel, 0, at)];
    }

    /// <summary>Height and width after a square window slides over them (floor, as TorchSharp computes them).</summary>
    private static int[] Window(int[] input, int kernel, int stride, int padding, string at)
    {
        int height = input[1] + 2 * padding, width = input[2] + 2 * padding;
        if (kernel > height || kernel > width)
            Fail(at, $"kernel {kernel}×{kernel} is larger than its input {Shape(input)}" + (padding > 0 ? $" padded by {padding}" : ""));
        return [(height - kernel) / stride + 1, (width - kernel) / stride + 1];
    }

    private static void Image(int[] input, string at)
    {
        if (input.Length != 3) Fail(at, $"needs a [C, H, W] input but gets {Shape(input)}");
    }

    private static void Positive(int value, string what, string at)
    {
        if (value < 1) Fail(at, $"{what} must be at least 1 (got {value})");
    }

    private static void Fail(string at, string what) => throw new NetworkDefinitionException($"{at}: {what}");

    internal static string Shape(IEnumerable<int> shape) => $"[{string.Join(",", shape)}]";
}
