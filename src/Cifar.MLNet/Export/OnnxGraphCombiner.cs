using Onnx;

namespace Cifar.MLNet.Export;

/// <summary>
/// Joins the zip's ONNX graphs (normalization, then the network with its test-time views) into one graph
/// for one image: each part's names get a prefix of their own, so no two parts clash, and each part's input is
/// wired to the previous part's output. Nodes and constants that do not lead to the scores are left out
/// (the network's class-name lookup: the exported model names classes for a whole batch).
/// </summary>
internal static class OnnxGraphCombiner
{
    /// <summary>The zip's parts in data order, from the pixels column to the graph that outputs <paramref name="scoreName"/>.</summary>
    /// <exception cref="InvalidDataException">No such chain, or the parts use different operator sets.</exception>
    public static IReadOnlyList<ModelProto> Chain(IReadOnlyList<ModelProto> parts, string pixelsColumn, string scoreName, string name)
    {
        var chain = new List<ModelProto>();
        var current = pixelsColumn;
        while (chain.Count < parts.Count)
        {
            var next = parts.FirstOrDefault(p => Inputs(p.Graph).SequenceEqual([current]))
                ?? throw new InvalidDataException($"{name}: not a Cifar model zip: no ONNX graph takes its '{current}' column");
            chain.Add(next);
            if (next.Graph.Output.Any(o => o.Name == scoreName)) break;
            if (next.Graph.Output.Count != 1)
                throw new InvalidDataException($"{name}: not a Cifar model zip: ONNX graph '{next.Graph.Name}' has {next.Graph.Output.Count} outputs and no '{scoreName}'");
            current = next.Graph.Output[0].Name;
        }
        if (!chain[^1].Graph.Output.Any(o => o.Name == scoreName))
            throw new InvalidDataException($"{name}: not a Cifar model zip: its ONNX graphs never output '{scoreName}'");
        OperatorSet(chain, name);
        return chain;
    }

    /// <summary>The default-domain operator set every part imports; they must agree, as one graph has one.</summary>
    public static long OperatorSet(IReadOnlyList<ModelProto> chain, string name)
    {
        foreach (var part in chain)
            if (part.OpsetImport.FirstOrDefault(o => o.Domain is not ("" or "ai.onnx")) is { } other)
                throw new InvalidDataException($"{name}: ONNX graph '{part.Graph.Name}' uses operator domain '{other.Domain}', which the export does not carry");
        var versions = chain.Select(p => p.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max()).Distinct().ToArray();
        if (versions.Length != 1 || versions[0] == 0)
            throw new InvalidDataException($"{name}: its ONNX graphs import operator sets {string.Join(", ", versions)}; one graph needs one");
        return versions[0];
    }

    /// <summary>
    /// One graph over <paramref name="chain"/>: input <paramref name="inputName"/> (the first part's input, same shape),
    /// output <paramref name="outputName"/> (the last part's <paramref name="scoreName"/>, same shape).
    /// </summary>
    public static GraphProto Combine(IReadOnlyList<ModelProto> chain, string scoreName, string inputName, string outputName)
    {
        var combined = new GraphProto { Name = "cifar_image" };
        string link = inputName;
        for (int i = 0; i < chain.Count; i++)
        {
            var part = chain[i].Graph;
            string partInput = Inputs(part).Single();
            string prefix = $"{i}_{part.Name}/";
            bool last = i == chain.Count - 1;
            string nextLink = last ? outputName : prefix + part.Output[0].Name;
            string Rename(string n) => n.Length == 0 ? n : n == partInput ? link : last && n == scoreName ? outputName : prefix + n;
            if (i == 0) combined.Input.Add(Renamed(part.Input.Single(v => v.Name == partInput), inputName));
            CopyRenamed(part, combined, Rename);
            if (last) combined.Output.Add(Renamed(part.Output.Single(o => o.Name == scoreName), outputName));
            link = nextLink;
        }
        Prune(combined);
        return combined;
    }

    private static void CopyRenamed(GraphProto from, GraphProto to, Func<string, string> rename)
    {
        foreach (var init in from.Initializer)
        {
            var copy = init.Clone();
            copy.Name = rename(init.Name);
            to.Initializer.Add(copy);
        }
        foreach (var node in from.Node)
        {
            if (node.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0))
                throw new InvalidDataException($"ONNX node '{node.Name}' ({node.OpType}) holds a subgraph, which the export does not rename");
            var copy = node.Clone();
            copy.Name = rename(node.Name);
            copy.Input.Clear();
            copy.Input.AddRange(node.Input.Select(rename));
            copy.Output.Clear();
            copy.Output.AddRange(node.Output.Select(rename));
            to.Node.Add(copy);
        }
        foreach (var info in from.ValueInfo) to.ValueInfo.Add(Renamed(info, rename(info.Name)));
    }

    /// <summary>Keeps only the nodes and constants the graph's outputs depend on.</summary>
    private static void Prune(GraphProto graph)
    {
        var needed = new HashSet<string>(graph.Output.Select(o => o.Name));
        var kept = new List<NodeProto>();
        foreach (var node in graph.Node.Reverse())
        {
            if (!node.Output.Any(needed.Contains)) continue;
            kept.Add(node);
            needed.UnionWith(node.Input);
        }
        kept.Reverse();
        var initializers = graph.Initializer.Where(t => needed.Contains(t.Name)).ToArray();
        var infos = graph.ValueInfo.Where(v => needed.Contains(v.Name)).ToArray();
        graph.Node.Clear();
        graph.Node.AddRange(kept);
        graph.Initializer.Clear();
        graph.Initializer.AddRange(initializers);
        graph.ValueInfo.Clear();
        graph.ValueInfo.AddRange(infos);
    }

    /// <summary>A graph's real inputs: those not also given as constants.</summary>
    public static IEnumerable<string> Inputs(GraphProto graph)
    {
        var constants = graph.Initializer.Select(t => t.Name).ToHashSet();
        return graph.Input.Select(i => i.Name).Where(n => !constants.Contains(n));
    }

    private static ValueInfoProto Renamed(ValueInfoProto info, string name)
    {
        var copy = info.Clone();
        copy.Name = name;
        return copy;
    }
}
