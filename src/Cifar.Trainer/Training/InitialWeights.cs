using System.Buffers.Binary;
using System.IO.Compression;
using Google.Protobuf;
using Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// Warm start: copies weights by their state-dict names into a freshly built network, from a model zip this project
/// wrote (the exported ONNX graph inside it) or from a training checkpoint. Batch-norm running statistics come too.
/// A model of other classes (or image sizes) gives every layer but the head, which starts fresh: fine-tuning.
/// </summary>
internal static class InitialWeights
{
    private static readonly string[] OnnxWeightSuffixes = ["weight", "bias", "running_mean", "running_var"];

    /// <summary>
    /// Loads <paramref name="path"/> into <paramref name="network"/>, all or nothing: every tensor's name, shape and
    /// type are compared before any is copied. Only the head (the network's last layer with weights, whose size
    /// follows from the classes and the image size) may differ: fine-tuning on other classes, it keeps its fresh
    /// weights and every other layer is loaded.
    /// </summary>
    /// <returns>How the head differs when it was left fresh (e.g. "fc: weight is [10,2048] there, [4,2048] here"); null when every layer was loaded.</returns>
    /// <exception cref="InitialWeightsException">The file is unreadable, or a layer before the head differs from the network's.</exception>
    public static string? Load(string path, Sequential network)
    {
        var source = Read(path, network);
        // The exported graph has no batch counters; they only matter without momentum, which no built layer lacks.
        bool fromOnnx = source.FromOnnx;
        var targets = network.state_dict()
            .Where(t => !(fromOnnx && t.Key.EndsWith(".num_batches_tracked", StringComparison.Ordinal)))
            .ToList();
        // The last layer with trainable weights (a state dict may list buffers, such as batch-norm statistics, after them).
        var head = network.named_parameters().Select(p => Split(p.name).Layer).LastOrDefault();
        string? headDifference = null;
        void Differs(string layer, string what)
        {
            if (layer != head) throw Mismatch(path, layer, what);
            headDifference ??= $"'{layer}' {what}";
        }

        var targetKeys = targets.Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var (key, target) in targets)
        {
            var (layer, part) = Split(key);
            if (!source.Tensors.TryGetValue(key, out var found))
                Differs(layer, source.Tensors.Keys.Any(k => Split(k).Layer == layer)
                    ? $"differs: {part} is missing there"
                    : "is missing there");
            else if (!found.Shape.SequenceEqual(target.shape))
                Differs(layer, $"differs: {part} is {Shape(found.Shape)} there, {Shape(target.shape)} here");
            else if (found.Type != target.dtype)
                Differs(layer, $"differs: {part} is {found.Type} there, {target.dtype} here");
        }
        foreach (var key in source.Tensors.Keys.Where(k => !targetKeys.Contains(k)))
        {
            var (layer, part) = Split(key);
            // A source head with more parts (a bias) is the head differing, not a layer of its own.
            Differs(layer, targetKeys.Any(k => Split(k).Layer == layer)
                ? $"differs: {part} is there, not here"
                : "is there, not here");
        }

        using var _ = no_grad();
        foreach (var (key, target) in targets)
        {
            if (headDifference is not null && Split(key).Layer == head) continue;
            var found = source.Tensors[key];
            using var values = empty(found.Shape, found.Type);
            found.Bytes.CopyTo(values.bytes);
            target.copy_(values);
        }
        return headDifference;
    }

    private sealed record SourceTensor(long[] Shape, ScalarType Type, byte[] Bytes);

    private sealed record Source(Dictionary<string, SourceTensor> Tensors, bool FromOnnx);

    private static Source Read(string path, Sequential network)
    {
        try
        {
            var head = new byte[32];
            int length;
            using (var file = File.OpenRead(path)) length = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            if (head.AsSpan(0, length).StartsWith("PK\u0003\u0004"u8)) return new Source(ReadModelZip(path, network), FromOnnx: true);
            // A checkpoint starts with its magic string, length-prefixed: "CIFAR-CHECKPOINT-" and a format number.
            var checkpointStart = System.Text.Encoding.ASCII.GetBytes(Checkpoint.Magic[..^1]);
            if (length > checkpointStart.Length && head.AsSpan(1).StartsWith(checkpointStart))
                return new Source(ReadCheckpoint(path), FromOnnx: false);
            throw new InitialWeightsException($"{path}: neither a model zip nor a Cifar checkpoint");
        }
        catch (CheckpointException e)
        {
            throw new InitialWeightsException(e.Message);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or NotSupportedException
                                  or FormatException or OverflowException or ArgumentException)
        {
            throw new InitialWeightsException($"{path}: unreadable ({ErrorText.FirstLine(e.Message)})");
        }
    }

    /// <summary>
    /// The weights of the ONNX graph in a model zip that shares the most names with the network's state dict (a model
    /// zip holds other graphs too, such as the normalization's). ML.NET stores each graph in an entry named
    /// <c>OnnxModel</c> as a 32-bit length followed by the model's bytes.
    /// </summary>
    private static Dictionary<string, SourceTensor> ReadModelZip(string path, Sequential network)
    {
        var wanted = network.state_dict().Keys.ToHashSet(StringComparer.Ordinal);
        using var zip = ZipFile.OpenRead(path);
        ModelProto? best = null;
        int bestMatches = 0;
        foreach (var entry in zip.Entries)
        {
            if (entry.Name != "OnnxModel" && !entry.Name.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) continue;
            var bytes = new byte[entry.Length];
            using (var stream = entry.Open()) stream.ReadExactly(bytes);
            var model = ParseOnnx(bytes);
            if (model?.Graph is null) continue;
            int matches = model.Graph.Initializer.Count(t => wanted.Contains(t.Name));
            if (matches > bestMatches) (best, bestMatches) = (model, matches);
        }
        if (best is null)
            throw new InitialWeightsException(
                $"{path}: no ONNX graph in it holds this network's weights (none has '{wanted.FirstOrDefault()}')");
        var tensors = new Dictionary<string, SourceTensor>(StringComparer.Ordinal);
        foreach (var t in best.Graph.Initializer)
        {
            if (t.DataType != (int)TensorProto.Types.DataType.Float || !OnnxWeightSuffixes.Contains(Split(t.Name).Part)) continue;
            var bytes = t.RawData.Length > 0
                ? t.RawData.ToByteArray()
                : System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.FloatData.ToArray().AsSpan()).ToArray();
            long count = t.Dims.Aggregate(1L, (a, d) => a * d);
            if (bytes.Length != count * sizeof(float))
                throw new InitialWeightsException($"{path}: unreadable (initializer '{t.Name}' holds {bytes.Length} bytes for {count} floats)");
            tensors[t.Name] = new SourceTensor(t.Dims.ToArray(), ScalarType.Float32, bytes);
        }
        return tensors;
    }

    private static ModelProto? ParseOnnx(byte[] bytes)
    {
        // With ML.NET's length prefix, or a bare graph.
        var body = bytes.Length >= 4 && BinaryPrimitives.ReadInt32LittleEndian(bytes) == bytes.Length - 4
            ? bytes.AsSpan(4).ToArray()
            : bytes;
        try
        {
            return ModelProto.Parser.ParseFrom(body);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }

    /// <summary>The network's tensors of a checkpoint, in TorchSharp's state-dict format: a count, then per tensor its
    /// name, element type, rank, dimensions and raw bytes (integers 7-bit encoded).</summary>
    private static Dictionary<string, SourceTensor> ReadCheckpoint(string path)
    {
        using var reader = Checkpoint.OpenAtWeights(path);
        long count = reader.Read7BitEncodedInt64();
        var tensors = new Dictionary<string, SourceTensor>(StringComparer.Ordinal);
        for (long i = 0; i < count; i++)
        {
            var name = reader.ReadString();
            var type = (ScalarType)reader.Read7BitEncodedInt64();
            int rank = (int)reader.Read7BitEncodedInt64();
            if (rank is < 0 or > 16) throw new InvalidDataException($"tensor '{name}' has rank {rank}");
            var shape = new long[rank];
            for (int d = 0; d < rank; d++) shape[d] = reader.Read7BitEncodedInt64();
            long length = shape.Aggregate(1L, (a, d) => a * d) * ElementSize(type, name);
            if (length < 0 || length > reader.BaseStream.Length - reader.BaseStream.Position)
                throw new EndOfStreamException($"the file ends inside tensor '{name}'");
            tensors[name] = new SourceTensor(shape, type, reader.ReadBytes((int)length));
        }
        return tensors;
    }

    private static int ElementSize(ScalarType type, string name) => type switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => throw new InvalidDataException($"tensor '{name}' has an unknown element type ({(int)type})"),
    };

    /// <summary>"residual1.conv1.weight" → ("residual1.conv1", "weight").</summary>
    private static (string Layer, string Part) Split(string key)
    {
        int dot = key.LastIndexOf('.');
        return dot < 0 ? ("", key) : (key[..dot], key[(dot + 1)..]);
    }

    private static InitialWeightsException Mismatch(string path, string layer, string what) =>
        new($"{path}: layer '{layer}' {what}");

    private static string Shape(IEnumerable<long> shape) => $"[{string.Join(",", shape)}]";
}
