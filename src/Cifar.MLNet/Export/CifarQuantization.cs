using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Cifar.MLNet.Data;
using Cifar.MLNet.Prediction;
using Microsoft.ML;
using Microsoft.ML.Data;
using Onnx;

namespace Cifar.MLNet.Export;

/// <summary>How <see cref="CifarQuantization.Quantize"/> calibrates and what accuracy it accepts.</summary>
public sealed record QuantizationOptions
{
    /// <summary>Images, the first of the calibration data, whose activations set the int8 ranges (default 512).</summary>
    public int CalibrationImages { get; init; } = 512;

    /// <summary>
    /// The most accuracy, in percentage points of the check data, the int8 model may lose against the float32 one (default
    /// 0.3); a larger loss refuses the model and nothing is written.
    /// </summary>
    public double MaxAccuracyDrop { get; init; } = 0.3;

    /// <summary>
    /// The convolution weights' bits, 7 or 8 (<see cref="ModelQuantization.WeightBits"/>); null (the default) for 8 where this
    /// processor's ONNX Runtime kernels add in 32 bits (AVX-512 VNNI or AVX-VNNI on x86; any processor that is not x86), else 7.
    /// 8 is more exact (on the fast model of 1 epoch: −0.20 instead of −0.74 accuracy points) but such a zip is refused where the
    /// kernels add in 16 bits (x86 with AVX2 only), which would compute it wrongly; 7 serves everywhere.
    /// </summary>
    public int? WeightBits { get; init; }
}

/// <summary>
/// Makes an int8 copy of a Cifar model zip: post-training static quantization of its network graph (ONNX's QDQ form,
/// which ONNX Runtime's CPU kernels run as integer convolutions), still a standard ML.NET zip that <see cref="CifarModel"/>
/// and <c>PredictionEngine</c> load without libtorch. BatchNormalization is folded into the convolutions; each
/// convolution's weights are int8 per output channel (symmetric, 7 or 8 bits: <see cref="QuantizationOptions.WeightBits"/>),
/// its input and output uint8 over the ranges they take on the calibration images (each image's extremes, averaged); the rest of the network stays float32. The copy records how it was made
/// (<see cref="CifarModel.Quantization"/>).
/// </summary>
public static class CifarQuantization
{
    /// <summary>The network graph's metadata key holding the <see cref="ModelQuantization"/> as JSON.</summary>
    internal const string MetadataKey = "cifar_quantization";

    /// <summary>
    /// Quantizes the model zip <paramref name="modelPath"/> into <paramref name="outputPath"/> (written atomically), calibrated on
    /// the first <see cref="QuantizationOptions.CalibrationImages"/> rows of <paramref name="calibration"/>. With
    /// <paramref name="check"/>, both models score it first and the int8 one is written only if its accuracy is within
    /// <see cref="QuantizationOptions.MaxAccuracyDrop"/> points of the float32 one's.
    /// </summary>
    /// <param name="modelPath">The float32 model zip.</param>
    /// <param name="outputPath">The int8 model zip to write (replaced when it exists).</param>
    /// <param name="calibration">Images as the model reads them (an <c>ImagePath</c> or <c>Pixels</c> column), e.g. training images.</param>
    /// <param name="check">Labelled images both models are scored on (a <c>Label</c> key column), e.g. the test split; null for no check.</param>
    /// <param name="options">Calibration size and accepted loss; null for the defaults.</param>
    /// <param name="ml">The context to load and score the models in; null for a new one.</param>
    /// <param name="cancellation">Stops calibration between images.</param>
    /// <returns>How the written model was made and, with a check, both accuracies.</returns>
    /// <exception cref="ArgumentException">An option is out of range, 8-bit weights on a processor without VNNI, or <paramref name="calibration"/> has no row.</exception>
    /// <exception cref="FileNotFoundException">There is no model file.</exception>
    /// <exception cref="InvalidDataException">Not a Cifar model zip, already quantized, or its network has no convolution to quantize.</exception>
    /// <exception cref="DirectoryNotFoundException">The output's folder does not exist.</exception>
    /// <exception cref="IOException">The output path is a folder or the model itself, or cannot be written.</exception>
    /// <exception cref="QuantizationRefusedException">The int8 model lost more accuracy than allowed; nothing was written.</exception>
    public static ModelQuantization Quantize(string modelPath, string outputPath, IDataView calibration, IDataView? check = null,
        QuantizationOptions? options = null, MLContext? ml = null, CancellationToken cancellation = default)
    {
        options ??= new QuantizationOptions();
        if (options.CalibrationImages < 1) throw new ArgumentException($"CalibrationImages must be 1 or more (got {options.CalibrationImages})", nameof(options));
        if (!(options.MaxAccuracyDrop >= 0) || double.IsInfinity(options.MaxAccuracyDrop))
            throw new ArgumentException($"MaxAccuracyDrop must be 0 or more points (got {options.MaxAccuracyDrop.ToString(CultureInfo.InvariantCulture)})", nameof(options));
        if (options.WeightBits is { } chosen and not (7 or 8)) throw new ArgumentException($"WeightBits must be 7 or 8 (got {chosen})", nameof(options));
        int weightBits = options.WeightBits ?? IntegerKernels.DefaultWeightBits;
        if (!IntegerKernels.Computes(weightBits, IntegerKernels.AddIn32Bits))
            throw new ArgumentException("WeightBits 8 needs a processor with VNNI to check the model on (ONNX Runtime's kernels here add in 16 bits); use 7", nameof(options));
        OutputPath.Check(modelPath, outputPath, "the output path", "the model zip", "the int8 model");
        ImageFiles.RequireReadableFile(modelPath, "model file");
        ml ??= new MLContext();
        var zip = File.ReadAllBytes(modelPath);
        using var floatModel = CifarModel.Load(new MemoryStream(zip, writable: false), modelPath, ml);
        if (floatModel.Quantization is { } already)
            throw new InvalidDataException($"{modelPath}: already quantized to {already.Precision}; quantize the float32 model it was made from");
        var (entry, network) = ZipOnnxParts.ReadEntries(zip, modelPath).LastOrDefault(p => p.Model.Graph.Output.Any(o => o.Name == CifarColumns.Score));
        if (network is null) throw new InvalidDataException($"{modelPath}: not a Cifar model zip: no ONNX graph gives '{CifarColumns.Score}'");

        var folded = OnnxQuantizer.FoldBatchNorms(network);
        var tensors = OnnxQuantizer.CalibratedTensors(folded);
        if (tensors.Count == 0) throw new InvalidDataException($"{modelPath}: its network has no convolution with constant weights to quantize");
        var inputName = folded.Graph.Input.Single(i => folded.Graph.Initializer.All(t => t.Name != i.Name)).Name;
        var samples = Features(floatModel.Transform(calibration), inputName, options.CalibrationImages).ToList();
        if (samples.Count == 0) throw new ArgumentException("the calibration data has no image", nameof(calibration));
        var ranges = OnnxQuantizer.Calibrate(folded, tensors, samples, cancellation);
        var quantized = OnnxQuantizer.Quantize(folded, ranges, weightBits);

        var made = new ModelQuantization("int8", samples.Count, Convert.ToHexStringLower(SHA256.HashData(zip)), null, null, 0) { WeightBits = weightBits };
        var int8Zip = ZipOnnxParts.Replace(zip, entry, WithMetadata(quantized, made));
        if (check is not null)
        {
            int images = (int)(check.GetRowCount() ?? check.GetColumn<uint>(CifarColumns.Label).LongCount());
            double floatAccuracy = Accuracy(ml, floatModel, check);
            double int8Accuracy;
            using (var int8Model = CifarModel.Load(new MemoryStream(int8Zip, writable: false), outputPath, ml)) int8Accuracy = Accuracy(ml, int8Model, check);
            made = made with { Float32Accuracy = floatAccuracy, Int8Accuracy = int8Accuracy, CheckImages = images };
            if ((floatAccuracy - int8Accuracy) * 100 > options.MaxAccuracyDrop + 1e-9) throw new QuantizationRefusedException(made, options.MaxAccuracyDrop);
            int8Zip = ZipOnnxParts.Replace(zip, entry, WithMetadata(quantized, made));
        }
        AtomicFile.WriteBytes(outputPath, int8Zip);
        return made;
    }

    /// <summary>The quantization recorded in a network graph's metadata, or null (a float32 graph).</summary>
    internal static ModelQuantization? Recorded(ModelProto network) =>
        network.MetadataProps.FirstOrDefault(p => p.Key == MetadataKey) is { } entry
            ? JsonSerializer.Deserialize<ModelQuantization>(entry.Value)
            : null;

    private static ModelProto WithMetadata(ModelProto model, ModelQuantization made)
    {
        var copy = model.Clone();
        foreach (var old in copy.MetadataProps.Where(p => p.Key == MetadataKey).ToArray()) copy.MetadataProps.Remove(old);
        copy.MetadataProps.Add(new StringStringEntryProto { Key = MetadataKey, Value = JsonSerializer.Serialize(made) });
        return copy;
    }

    /// <summary>The first <paramref name="count"/> rows of the network's input column.</summary>
    private static IEnumerable<float[]> Features(IDataView scored, string column, int count)
    {
        var features = scored.Schema.GetColumnOrNull(column)
                       ?? throw new InvalidDataException($"the model's image steps give no '{column}' column for its network");
        using var cursor = scored.GetRowCursor([features]);
        var getter = cursor.GetGetter<VBuffer<float>>(features);
        var buffer = default(VBuffer<float>);
        for (int i = 0; i < count && cursor.MoveNext(); i++)
        {
            getter(ref buffer);
            yield return buffer.DenseValues().ToArray();
        }
    }

    private static double Accuracy(MLContext ml, CifarModel model, IDataView check) =>
        ml.MulticlassClassification.Evaluate(model.Transform(check)).MicroAccuracy;
}

/// <summary>The int8 model lost more accuracy than <see cref="QuantizationOptions.MaxAccuracyDrop"/> allows; nothing was written.</summary>
public sealed class QuantizationRefusedException : InvalidOperationException
{
    /// <summary>Creates the exception for what was measured.</summary>
    public QuantizationRefusedException(ModelQuantization measured, double maxAccuracyDrop)
        : base(string.Create(CultureInfo.InvariantCulture,
            $"the int8 model's accuracy {measured.Int8Accuracy * 100:F2} % is {(measured.Float32Accuracy - measured.Int8Accuracy) * 100:F2} points below the float32 model's {measured.Float32Accuracy * 100:F2} % on {measured.CheckImages} images (at most {maxAccuracyDrop:0.##} allowed); nothing written"))
    {
        Measured = measured;
    }

    /// <summary>Both accuracies, as measured.</summary>
    public ModelQuantization Measured { get; }
}
