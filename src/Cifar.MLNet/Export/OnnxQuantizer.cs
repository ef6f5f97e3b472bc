using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Cifar.MLNet.Export;

/// <summary>The range of values a tensor took over the calibration images.</summary>
internal readonly record struct ValueRange(float Min, float Max);

/// <summary>
/// Post-training static int8 quantization of a classifier graph in ONNX's QDQ form, which ONNX Runtime's CPU graph
/// optimizer fuses into integer kernels (QLinearConv): every convolution with constant weights reads its input through
/// QuantizeLinear → DequantizeLinear (uint8, asymmetric, the range calibrated on sample inputs), its weights as int8
/// per output channel (symmetric over 7 or 8 bits, zero point 0: <see cref="WeightLimit"/>) and its bias as int32 at the input's scale times the weight's, and its
/// output goes through QuantizeLinear → DequantizeLinear again. Everything else (GELU, pooling, the head, softmax) stays
/// float32: the convolutions hold nearly all of the arithmetic. BatchNormalization is folded into the convolution
/// before it first, so that it costs nothing and the folded weights are what is quantized.
/// </summary>
internal static class OnnxQuantizer
{
    /// <summary>
    /// The largest int8 weight for <paramref name="bits"/> symmetric bits: 63 for 7, 127 for 8. On x86 processors without
    /// VNNI, ONNX Runtime's uint8 × int8 kernels (AVX2's vpmaddubsw) add each pair of products in 16 bits, which saturates
    /// for full-range weights (2·255·127 &gt; 32,767) and wrecks the scores; with ±63 a pair stays within range
    /// (2·255·63 = 32,130) on every processor. VNNI's instructions add in 32 bits.
    /// </summary>
    internal static int WeightLimit(int bits) => (1 << (bits - 1)) - 1;

    /// <summary>
    /// A copy of <paramref name="model"/> with each BatchNormalization folded into the convolution that feeds it, directly
    /// or through a MaxPool (when every channel's scale is positive, a max commutes with the affine map). A
    /// BatchNormalization that fits neither pattern stays.
    /// </summary>
    public static ModelProto FoldBatchNorms(ModelProto model)
    {
        var folded = model.Clone();
        var g = folded.Graph;
        foreach (var norm in g.Node.Where(n => n.OpType == "BatchNormalization").ToArray())
        {
            var producers = Producers(g);
            var conv = producers.GetValueOrDefault(norm.Input[0]);
            NodeProto? pool = null;
            if (conv is { OpType: "MaxPool" } && SingleConsumer(g, conv.Output[0]))
            {
                pool = conv;
                conv = producers.GetValueOrDefault(pool.Input[0]);
            }
            // Folding rewrites the weight and bias in place: only where this convolution is their one consumer.
            if (conv is not { OpType: "Conv" } || !SingleConsumer(g, conv.Output[0]) || Initializer(g, conv.Input[1]) is not { } weight
                || !SingleConsumer(g, conv.Input[1])
                || (conv.Input.Count > 2 && (Initializer(g, conv.Input[2]) is null || !SingleConsumer(g, conv.Input[2])))) continue;
            if (!norm.Input.Skip(1).All(name => Initializer(g, name) is not null) || g.Output.Any(o => o.Name == norm.Output[0])) continue;

            var (scale, shift) = AffineOf(g, norm);
            if (pool is not null && scale.Any(s => !(s > 0))) continue;
            if (weight.Dims[0] != scale.Length) continue;
            ScaleIntoConvolution(g, conv, weight, scale, shift);

            // The normalization's consumers now read its input; its constants go with it.
            Rewire(g, from: norm.Output[0], to: norm.Input[0]);
            g.Node.Remove(norm);
            foreach (var name in norm.Input.Skip(1)) RemoveUnusedInitializer(g, name);
        }
        return folded;
    }

    /// <summary>BatchNormalization's per-channel y = scale·x + shift, from its constants.</summary>
    private static (float[] Scale, float[] Shift) AffineOf(GraphProto g, NodeProto norm)
    {
        float epsilon = norm.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;
        var (gamma, beta, mean, variance) = (Floats(g, norm.Input[1]), Floats(g, norm.Input[2]), Floats(g, norm.Input[3]), Floats(g, norm.Input[4]));
        var scale = new float[gamma.Length];
        var shift = new float[gamma.Length];
        for (int c = 0; c < gamma.Length; c++)
        {
            // In double, as ONNX Runtime's reference fold does not: the folded weights are then the closest float32s.
            double s = gamma[c] / Math.Sqrt(variance[c] + (double)epsilon);
            scale[c] = (float)s;
            shift[c] = (float)(beta[c] - mean[c] * s);
        }
        return (scale, shift);
    }

    /// <summary>Makes <paramref name="conv"/> compute scale·conv(x) + shift per output channel, adding a bias if it has none.</summary>
    private static void ScaleIntoConvolution(GraphProto g, NodeProto conv, TensorProto weight, float[] scale, float[] shift)
    {
        int channels = scale.Length;
        var w = Floats(g, weight.Name);
        int perChannel = w.Length / channels;
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < perChannel; i++) w[c * perChannel + i] *= scale[c];
        SetFloats(weight, w);
        var bias = conv.Input.Count > 2 ? Floats(g, conv.Input[2]) : new float[channels];
        for (int c = 0; c < channels; c++) bias[c] = bias[c] * scale[c] + shift[c];
        string biasName = conv.Input.Count > 2 ? conv.Input[2] : conv.Output[0] + ":folded_bias";
        if (conv.Input.Count > 2) SetFloats(Initializer(g, biasName)!, bias);
        else
        {
            g.Initializer.Add(FloatTensor(biasName, bias, channels));
            conv.Input.Add(biasName);
        }
    }

    /// <summary>The tensors whose ranges quantization needs: the input and output of every convolution it quantizes.</summary>
    public static IReadOnlyList<string> CalibratedTensors(ModelProto model) =>
        QuantizedConvolutions(model.Graph).SelectMany(n => new[] { n.Input[0], n.Output[0] }).Distinct().ToArray();

    /// <summary>
    /// Runs <paramref name="model"/> on each of <paramref name="inputs"/> (its one input's values, in its declared shape)
    /// and returns the range of each of <paramref name="tensors"/>: the mean over the inputs of each input's smallest and
    /// largest value. The mean, not the extremes over all inputs, so that a few outlying activations do not widen a
    /// range and coarsen every other value (on the fast model of 1 epoch, 7-bit weights: −0.74 instead of −1.37 accuracy points).
    /// </summary>
    public static Dictionary<string, ValueRange> Calibrate(ModelProto model, IReadOnlyList<string> tensors, IEnumerable<float[]> inputs,
        CancellationToken cancellation = default)
    {
        var probe = model.Clone();
        probe.Graph.Output.Clear();
        foreach (var name in tensors)
            probe.Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
        var input = probe.Graph.Input.Single(i => probe.Graph.Initializer.All(t => t.Name != i.Name));
        long[] dims = GraphFacts.Dims(input);
        var ranges = tensors.ToDictionary(t => t, _ => new ValueRange(float.PositiveInfinity, float.NegativeInfinity));

        using var options = new SessionOptions { IntraOpNumThreads = 1 }; // calibration runs as many sessions as it likes: one thread each
        using var session = new InferenceSession(probe.ToByteArray(), options);
        using var run = new RunOptions();
        string[] inputNames = [input.Name];
        string[] outputNames = tensors.ToArray();
        int count = 0;
        foreach (var values in inputs)
        {
            cancellation.ThrowIfCancellationRequested();
            using var value = OrtValue.CreateTensorValueFromMemory(values, dims);
            using var results = session.Run(run, inputNames, [value], outputNames);
            for (int i = 0; i < outputNames.Length; i++)
            {
                var (min, max) = MinMax(results[i].GetTensorDataAsSpan<float>());
                var r = ranges[outputNames[i]];
                ranges[outputNames[i]] = count == 0 ? new ValueRange(min, max)
                    : new ValueRange(r.Min + (min - r.Min) / (count + 1), r.Max + (max - r.Max) / (count + 1)); // running means
            }
            count++;
        }
        if (count == 0) throw new ArgumentException("calibration needs at least one input", nameof(inputs));
        return ranges;
    }

    /// <summary>
    /// <paramref name="model"/> (BatchNormalization already folded) with its convolutions in QDQ form, quantized with the
    /// calibrated <paramref name="ranges"/> of <see cref="CalibratedTensors"/> and weights of <paramref name="weightBits"/> bits (7 or 8).
    /// </summary>
    public static ModelProto Quantize(ModelProto model, IReadOnlyDictionary<string, ValueRange> ranges, int weightBits = 7)
    {
        int weightLimit = WeightLimit(weightBits);
        var quantized = model.Clone();
        var g = quantized.Graph;
        var convolutions = QuantizedConvolutions(g).ToHashSet();
        var dequantized = new Dictionary<string, (string Name, float Scale)>(); // activation → its Q→DQ output
        var nodes = new List<NodeProto>();

        // outputName: a convolution's output, renamed so that its Q→DQ gives consumers the calibrated name.
        (string Name, float Scale) QuantizeActivation(string tensor, List<NodeProto> into, string? outputName = null)
        {
            if (outputName is null && dequantized.TryGetValue(tensor, out var known)) return known;
            string calibrated = outputName ?? tensor;
            var range = ranges.TryGetValue(calibrated, out var r) ? r : throw new ArgumentException($"no calibrated range for '{calibrated}'");
            var (scale, zeroPoint) = Uint8Parameters(range);
            string scaleName = Unique(g, tensor + ":scale"), zeroName = Unique(g, tensor + ":zero_point");
            g.Initializer.Add(FloatTensor(scaleName, [scale]));
            g.Initializer.Add(new TensorProto { Name = zeroName, DataType = (int)DataType.Uint8, RawData = ByteString.CopyFrom(zeroPoint) });
            string q = Unique(g, tensor + ":quantized"), dq = outputName ?? Unique(g, tensor + ":dequantized");
            into.Add(Node("QuantizeLinear", [tensor, scaleName, zeroName], q));
            into.Add(Node("DequantizeLinear", [q, scaleName, zeroName], dq));
            if (outputName is null) dequantized[tensor] = (dq, scale);
            return (dq, scale);
        }

        foreach (var node in g.Node.ToArray())
        {
            if (!convolutions.Contains(node))
            {
                nodes.Add(node);
                continue;
            }
            var (input, inputScale) = QuantizeActivation(node.Input[0], nodes);
            node.Input[0] = input;
            var weight = Initializer(g, node.Input[1])!;
            var weightScales = QuantizeWeights(g, node, weight, weightLimit, nodes);
            if (node.Input.Count > 2 && node.Input[2].Length > 0) QuantizeBias(g, node, inputScale, weightScales, nodes);
            // The output: the convolution writes a new name, whose Q→DQ gives the old one to every consumer.
            string output = node.Output[0];
            node.Output[0] = Unique(g, output + ":float");
            nodes.Add(node);
            var after = new List<NodeProto>();
            // A convolution that reads this output takes it as it is: quantizing it again with the same range changes nothing.
            dequantized[output] = QuantizeActivation(node.Output[0], after, outputName: output);
            nodes.AddRange(after);
        }
        g.Node.Clear();
        g.Node.AddRange(nodes);
        return quantized;
    }

    /// <summary>Convolutions with constant 4-D float weights (and a constant bias, if any): the ones quantized.</summary>
    private static IEnumerable<NodeProto> QuantizedConvolutions(GraphProto g) =>
        g.Node.Where(n => n.OpType == "Conv" && Initializer(g, n.Input[1]) is { DataType: (int)DataType.Float, Dims.Count: 4 }
                          && (n.Input.Count < 3 || n.Input[2].Length == 0 || Initializer(g, n.Input[2]) is { DataType: (int)DataType.Float }));

    /// <summary>Replaces the convolution's weight by int8 values per output channel and their DequantizeLinear; returns the scales.</summary>
    private static float[] QuantizeWeights(GraphProto g, NodeProto conv, TensorProto weight, int weightLimit, List<NodeProto> nodes)
    {
        var w = Floats(g, weight.Name);
        int channels = (int)weight.Dims[0], perChannel = w.Length / channels;
        var scales = new float[channels];
        var values = new sbyte[w.Length];
        for (int c = 0; c < channels; c++)
        {
            float largest = 0;
            for (int i = 0; i < perChannel; i++) largest = Math.Max(largest, Math.Abs(w[c * perChannel + i]));
            scales[c] = largest > 0 ? largest / weightLimit : 1f;
            for (int i = 0; i < perChannel; i++)
                values[c * perChannel + i] = (sbyte)Math.Clamp(MathF.Round(w[c * perChannel + i] / scales[c], MidpointRounding.ToEven), -weightLimit, weightLimit);
        }
        string name = weight.Name;
        var quantized = new TensorProto { Name = Unique(g, name + ":int8"), DataType = (int)DataType.Int8, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        quantized.Dims.AddRange(weight.Dims);
        g.Initializer.Add(quantized);
        string scaleName = Unique(g, name + ":scale"), zeroName = Unique(g, name + ":zero_point");
        g.Initializer.Add(FloatTensor(scaleName, scales, channels));
        var zeros = new TensorProto { Name = zeroName, DataType = (int)DataType.Int8, RawData = ByteString.CopyFrom(new byte[channels]) };
        zeros.Dims.Add(channels);
        g.Initializer.Add(zeros);
        string dequantized = Unique(g, name + ":dequantized");
        nodes.Add(Node("DequantizeLinear", [quantized.Name, scaleName, zeroName], dequantized, axis: 0));
        conv.Input[1] = dequantized;
        RemoveUnusedInitializer(g, name);
        return scales;
    }

    /// <summary>Replaces the convolution's bias by int32 values at the input's scale times each channel's weight scale.</summary>
    private static void QuantizeBias(GraphProto g, NodeProto conv, float inputScale, float[] weightScales, List<NodeProto> nodes)
    {
        string name = conv.Input[2];
        var b = Floats(g, name);
        var scales = weightScales.Select(s => inputScale * s).ToArray();
        var values = new int[b.Length];
        for (int c = 0; c < b.Length; c++)
            values[c] = (int)Math.Clamp(Math.Round((double)b[c] / scales[c], MidpointRounding.ToEven), int.MinValue + 1, int.MaxValue);
        var quantized = new TensorProto { Name = Unique(g, name + ":int32"), DataType = (int)DataType.Int32, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        quantized.Dims.Add(b.Length);
        g.Initializer.Add(quantized);
        string scaleName = Unique(g, name + ":scale"), zeroName = Unique(g, name + ":zero_point");
        g.Initializer.Add(FloatTensor(scaleName, scales, scales.Length));
        var zeros = new TensorProto { Name = zeroName, DataType = (int)DataType.Int32, RawData = ByteString.CopyFrom(new byte[4 * b.Length]) };
        zeros.Dims.Add(b.Length);
        g.Initializer.Add(zeros);
        string dequantized = Unique(g, name + ":dequantized");
        nodes.Add(Node("DequantizeLinear", [quantized.Name, scaleName, zeroName], dequantized, axis: 0));
        conv.Input[2] = dequantized;
        RemoveUnusedInitializer(g, name);
    }

    /// <summary>The scale and zero point that map [min(0, Min), max(0, Max)] onto 0–255 (zero exactly representable, as ONNX requires).</summary>
    internal static (float Scale, byte ZeroPoint) Uint8Parameters(ValueRange range)
    {
        float min = Math.Min(0f, range.Min), max = Math.Max(0f, range.Max);
        if (!(max > min)) return (1f, 0);
        float scale = (max - min) / 255f;
        return (scale, (byte)Math.Clamp(MathF.Round(-min / scale, MidpointRounding.ToEven), 0, 255));
    }

    private static (float Min, float Max) MinMax(ReadOnlySpan<float> values)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return (min, max);
    }

    private static NodeProto Node(string opType, string[] inputs, string output, long? axis = null)
    {
        var node = new NodeProto { OpType = opType, Name = output + ":" + opType };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        if (axis is { } a) node.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = a });
        return node;
    }

    private static Dictionary<string, NodeProto> Producers(GraphProto g) =>
        g.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);

    private static bool SingleConsumer(GraphProto g, string tensor) =>
        g.Node.Sum(n => n.Input.Count(i => i == tensor)) == 1 && g.Output.All(o => o.Name != tensor);

    private static void Rewire(GraphProto g, string from, string to)
    {
        foreach (var node in g.Node)
            for (int i = 0; i < node.Input.Count; i++)
                if (node.Input[i] == from) node.Input[i] = to;
    }

    private static TensorProto? Initializer(GraphProto g, string name) => g.Initializer.FirstOrDefault(t => t.Name == name);

    private static void RemoveUnusedInitializer(GraphProto g, string name)
    {
        if (g.Node.Any(n => n.Input.Contains(name))) return;
        if (Initializer(g, name) is { } t) g.Initializer.Remove(t);
    }

    private static string Unique(GraphProto g, string name)
    {
        bool Taken(string n) => g.Initializer.Any(t => t.Name == n) || g.Node.Any(x => x.Output.Contains(n)) || g.Input.Any(i => i.Name == n);
        if (!Taken(name)) return name;
        for (int i = 1; ; i++) if (!Taken($"{name}_{i}")) return $"{name}_{i}";
    }

    /// <summary>A float initializer's values (raw or listed).</summary>
    internal static float[] Floats(GraphProto g, string name)
    {
        var t = Initializer(g, name) ?? throw new ArgumentException($"no initializer '{name}'");
        if (t.DataType != (int)DataType.Float) throw new ArgumentException($"initializer '{name}' is not float32");
        return t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : t.FloatData.ToArray();
    }

    private static void SetFloats(TensorProto t, float[] values)
    {
        t.FloatData.Clear();
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
    }

    private static TensorProto FloatTensor(string name, float[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        t.Dims.AddRange(dims);
        return t;
    }
}
