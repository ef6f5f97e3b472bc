using System.Security.Cryptography;
using Cifar.MLNet.Data;
using Cifar.MLNet.Export;
using Cifar.MLNet.Prediction;
using Cifar.Tests;
using Cifar.Trainer.Onnx;
using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using static Cifar.Trainer.Onnx.OnnxGraphBuilder;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Cifar.MLNet.Tests;

/// <summary>
/// The int8 quantizer (<see cref="OnnxQuantizer"/>) on a small graph with fixed weights, and <see cref="CifarQuantization"/>
/// on the zips of <see cref="ExportedModels"/> (the tutorial's network, and AirbenchNet with six test-time views).
/// </summary>
public class QuantizationTests(ExportedModels models) : IClassFixture<ExportedModels>
{
    private const int Channels = 8, Classes = 10, Side = 16;

    /// <summary>
    /// Conv(3→8, 3×3, bias) → MaxPool 2 → BatchNorm → Relu → Conv(8→8, 3×3) → BatchNorm → Relu → GlobalAveragePool → Flatten →
    /// Gemm → Softmax, weights drawn from a fixed seed: both patterns BatchNorm is folded from.
    /// </summary>
    private static ModelProto SmallNetwork()
    {
        var random = new Random(7);
        float[] Draw(int count, double scale, double offset = 0) => Enumerable.Range(0, count).Select(_ => (float)(offset + scale * (random.NextDouble() * 2 - 1))).ToArray();
        var g = new OnnxGraphBuilder("small");
        var x = g.FloatInput("input", 3, Side, Side);
        x = g.Node("Reshape", [x, g.Constant("shape", new long[] { 1, 3, Side, Side }, 4)]);
        AttributeProto[] Conv3 = [Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)];
        x = g.Node("Conv", [x, g.Constant("c1.weight", Draw(Channels * 27, 0.3), Channels, 3, 3, 3), g.Constant("c1.bias", Draw(Channels, 0.1), Channels)], attributes: Conv3);
        x = g.Node("MaxPool", [x], attributes: [Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)]);
        string Norm(string input, string name) => g.Node("BatchNormalization",
            [input, g.Constant(name + ".weight", Draw(Channels, 0.5, 1), Channels), g.Constant(name + ".bias", Draw(Channels, 0.2), Channels),
             g.Constant(name + ".running_mean", Draw(Channels, 0.3), Channels), g.Constant(name + ".running_var", Draw(Channels, 0.4, 1), Channels)],
            attributes: Float("epsilon", 1e-5f));
        x = g.Node("Relu", [Norm(x, "n1")]);
        x = g.Node("Conv", [x, g.Constant("c2.weight", Draw(Channels * Channels * 9, 0.2), Channels, Channels, 3, 3)], attributes: Conv3);
        x = g.Node("Relu", [Norm(x, "n2")]);
        x = g.Node("Flatten", [g.Node("GlobalAveragePool", [x])], attributes: Int("axis", 1));
        x = g.Node("Gemm", [x, g.Constant("fc.weight", Draw(Classes * Channels, 1), Classes, Channels)], attributes: Int("transB", 1));
        g.Node("Softmax", [x], "scores", Int("axis", 1));
        g.Output("scores", DataType.Float, 1, Classes);
        return ModelProto.Parser.ParseFrom(g.ToModelBytes("test"));
    }

    private static float[][] Inputs(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, 3 * Side * Side).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray()).ToArray();
    }

    private static float[] Score(InferenceSession session, float[] input)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, [3, Side, Side]);
        using var run = new RunOptions();
        using var results = session.Run(run, ["input"], [value], ["scores"]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static int ArgMax(float[] v) => Array.IndexOf(v, v.Max());

    [Fact]
    public void Folding_batch_normalization_keeps_the_scores_and_removes_every_normalization()
    {
        var network = SmallNetwork();
        var folded = OnnxQuantizer.FoldBatchNorms(network);
        Assert.DoesNotContain(folded.Graph.Node, n => n.OpType == "BatchNormalization");
        Assert.Equal(2, network.Graph.Node.Count(n => n.OpType == "BatchNormalization")); // the input is left as it was
        using var original = new InferenceSession(network.ToByteArray());
        using var foldedSession = new InferenceSession(folded.ToByteArray());
        foreach (var input in Inputs(20, seed: 1))
        {
            var (expected, actual) = (Score(original, input), Score(foldedSession, input));
            for (int k = 0; k < Classes; k++) Assert.Equal(expected[k], actual[k], 1e-5f);
        }
    }

    [Fact]
    public void Int8_graph_agrees_with_float32_within_two_hundredths_of_probability_and_on_the_top_class()
    {
        var folded = OnnxQuantizer.FoldBatchNorms(SmallNetwork());
        var ranges = OnnxQuantizer.Calibrate(folded, OnnxQuantizer.CalibratedTensors(folded), Inputs(64, seed: 2));
        var quantized = OnnxQuantizer.Quantize(folded, ranges);

        // QDQ form: each convolution reads int8 weights, and its input and output go through uint8.
        var g = quantized.Graph;
        Assert.Equal(2, g.Node.Count(n => n.OpType == "Conv"));
        Assert.Equal(4, g.Node.Count(n => n.OpType == "QuantizeLinear"));
        Assert.Equal(2, g.Initializer.Count(t => t.DataType == (int)DataType.Int8 && t.Dims.Count == 4));
        Assert.DoesNotContain(g.Initializer, t => t.Name is "c1.weight" or "c2.weight");
        // The fold gave c1 a bias, c2 one of its own: both int32 at the input's scale times the weights'.
        Assert.Equal(2, g.Initializer.Count(t => t.DataType == (int)DataType.Int32 && t.Dims.Count == 1 && t.Dims[0] == Channels && t.Name.EndsWith(":int32", StringComparison.Ordinal)));

        using var floatSession = new InferenceSession(folded.ToByteArray());
        using var int8Session = new InferenceSession(quantized.ToByteArray());
        int sameTop = 0, count = 0;
        foreach (var input in Inputs(100, seed: 3))
        {
            var (expected, actual) = (Score(floatSession, input), Score(int8Session, input));
            for (int k = 0; k < Classes; k++) Assert.Equal(expected[k], actual[k], 0.02f);
            sameTop += ArgMax(expected) == ArgMax(actual) ? 1 : 0;
            count++;
        }
        Assert.True(sameTop >= 95, $"top class agrees on {sameTop} of {count} inputs");

        // ONNX Runtime's CPU optimizer fuses each Q→DQ→Conv→Q into an integer convolution: no float convolution is left.
        using var folder = new TestData.TempFolder();
        using (var options = new SessionOptions { OptimizedModelFilePath = folder.File("optimized.onnx"), GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED })
        using (new InferenceSession(quantized.ToByteArray(), options)) { }
        var ops = ModelProto.Parser.ParseFrom(File.ReadAllBytes(folder.File("optimized.onnx"))).Graph.Node.Select(n => n.OpType).ToArray();
        Assert.Equal(2, ops.Count(op => op == "QLinearConv"));
        Assert.DoesNotContain("Conv", ops);
    }

    [Fact]
    public void Calibration_averages_each_inputs_smallest_and_largest_value()
    {
        // y = Relu(x) over four values: inputs [-1, 0, 2, 1] and [-3, 5, 0, 0] give y's extremes (0, 2) and (0, 5), x's
        // (-1, 2) and (-3, 5): the means are (0, 3.5) and (-2, 3.5), where the extremes over both would be (0, 5) and (-3, 5).
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "relu" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 4 });
        ValueInfoProto Tensor(string name) => new() { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } } };
        model.Graph.Input.Add(Tensor("x"));
        model.Graph.Output.Add(Tensor("out"));
        model.Graph.Node.Add(new NodeProto { OpType = "Relu", Input = { "x" }, Output = { "y" } });
        model.Graph.Node.Add(new NodeProto { OpType = "Identity", Input = { "y" }, Output = { "out" } });
        var ranges = OnnxQuantizer.Calibrate(model, ["y"], [[-1f, 0f, 2f, 1f], [-3f, 5f, 0f, 0f]]);
        Assert.Equal(new ValueRange(0f, 3.5f), ranges["y"]);
    }

    [Fact]
    public void Weight_bits_give_63_or_127_and_8_bit_weights_are_refused_where_the_kernels_add_in_16_bits()
    {
        Assert.Equal((63, 127), (OnnxQuantizer.WeightLimit(7), OnnxQuantizer.WeightLimit(8)));
        var seven = new ModelQuantization("int8", 16, "00", null, null, 0);
        var eight = seven with { WeightBits = 8 };
        Assert.Equal(7, seven.WeightBits); // what zips that record no bits were made with
        IntegerKernels.Require(seven, addIn32Bits: false, "m.zip");
        IntegerKernels.Require(eight, addIn32Bits: true, "m.zip");
        var refused = Assert.Throws<InvalidDataException>(() => IntegerKernels.Require(eight, addIn32Bits: false, "m.zip"));
        Assert.Equal("m.zip: its int8 convolutions have 8-bit weights, which ONNX Runtime computes wrongly on a processor without VNNI, " +
                     "as this one; quantize the float32 model again with 7-bit weights (--weight-bits 7)", refused.Message);
        Assert.Equal(IntegerKernels.AddIn32Bits ? 8 : 7, IntegerKernels.DefaultWeightBits);
    }

    [Fact]
    public void Uint8_parameters_represent_zero_exactly_and_span_the_range()
    {
        var (scale, zero) = OnnxQuantizer.Uint8Parameters(new ValueRange(-1f, 3f));
        Assert.Equal(4f / 255, scale, 1e-7f);
        Assert.Equal(64, zero); // round(1 / (4/255)) = round(63.75)
        // A range that does not include 0 is widened to it (ReLU outputs: zero point 0).
        Assert.Equal((2f / 255, (byte)0), OnnxQuantizer.Uint8Parameters(new ValueRange(0.5f, 2f)));
        Assert.Equal((1f, (byte)0), OnnxQuantizer.Uint8Parameters(new ValueRange(0f, 0f)));
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("views")]
    public void Int8_zip_loads_through_CifarModel_records_how_it_was_made_and_agrees_with_the_float32_zip(string kind)
    {
        var m = models.Get(kind);
        using var folder = new TestData.TempFolder();
        var int8Path = folder.File("int8.zip");
        var ml = new MLContext(seed: 1);
        var calibration = CifarDataLoader.Load(ml, TestData.RequireRoot(), CifarSplit.Train, 64);
        var check = CifarDataLoader.Load(ml, TestData.RequireRoot(), CifarSplit.Test, 100);
        // A model of one epoch on 200 images is near chance: the accuracy check is measured here, not enforced.
        var made = CifarQuantization.Quantize(m.Zip, int8Path, calibration, check, new QuantizationOptions { CalibrationImages = 64, MaxAccuracyDrop = 100 }, ml);

        using var float32 = CifarModel.Load(m.Zip);
        using var int8 = CifarModel.Load(int8Path);
        Assert.Null(float32.Quantization);
        Assert.Equal(made, int8.Quantization);
        Assert.Equal(("int8", 64, 100, IntegerKernels.DefaultWeightBits), (made.Precision, made.CalibrationImages, made.CheckImages, made.WeightBits));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(m.Zip))), made.SourceSha256);
        Assert.InRange(made.Float32Accuracy!.Value, 0, 1);
        Assert.InRange(made.Int8Accuracy!.Value, 0, 1);
        Assert.Equal(float32.ClassNames, int8.ClassNames);
        Assert.Equal(float32.ImageFormat, int8.ImageFormat);
        // The network's weights are int8 in the zip: it is about a quarter of the float32 one.
        Assert.InRange(new FileInfo(int8Path).Length, 1, new FileInfo(m.Zip).Length * 0.45);

        // The tutorial network agrees closely. The one-epoch AirbenchNet does not (top class on about half of the images): its
        // BatchNorm statistics (ε 1e-12) leave a few channels far wider than the rest, which one uint8 range per tensor
        // resolves coarsely. That is what the accuracy check refuses; docs/performance.md has the open question.
        if (kind == "plain")
        {
            int sameTop = 0, count = 0;
            foreach (var file in TestImages(20))
            {
                var (expected, actual) = (float32.Predict(file), int8.Predict(file));
                for (int k = 0; k < expected.Score.Length; k++) Assert.Equal(expected.Score[k], actual.Score[k], 0.05f);
                sameTop += expected.PredictedLabel == actual.PredictedLabel ? 1 : 0;
                count++;
            }
            Assert.True(sameTop >= count * 8 / 10, $"top class agrees on {sameTop} of {count} images");
        }

        // Loaded again from its bytes it scores the same, to the bit; and it exports as one ONNX file like any zip.
        using var reloaded = CifarModel.Load(new MemoryStream(File.ReadAllBytes(int8Path)), "int8 again");
        foreach (var file in TestImages(5)) Assert.Equal(int8.Predict(file).Score, reloaded.Predict(file).Score);
        var export = CifarOnnxExport.Write(int8Path, folder.File("int8.onnx"));
        Assert.Equal(float32.ClassNames, export.ClassNames);
    }

    [Fact]
    public void Refuses_a_quantized_zip_the_model_itself_as_output_and_bad_options_in_one_line_writing_nothing()
    {
        var m = models.Get("plain");
        using var folder = new TestData.TempFolder();
        var ml = new MLContext(seed: 1);
        var calibration = CifarDataLoader.Load(ml, TestData.RequireRoot(), CifarSplit.Train, 16);
        var options = new QuantizationOptions { CalibrationImages = 16 };
        var int8Path = folder.File("int8.zip");
        CifarQuantization.Quantize(m.Zip, int8Path, calibration, options: options, ml: ml);

        void Refused<T>(Action quantize, string expected) where T : Exception
        {
            var e = Assert.Throws<T>(quantize);
            Assert.Contains(expected, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        Refused<InvalidDataException>(() => CifarQuantization.Quantize(int8Path, folder.File("again.zip"), calibration, options: options, ml: ml),
            "already quantized to int8");
        Refused<IOException>(() => CifarQuantization.Quantize(m.Zip, m.Zip, calibration, options: options, ml: ml), "is the model zip itself");
        Refused<DirectoryNotFoundException>(() => CifarQuantization.Quantize(m.Zip, folder.File("missing/int8.zip"), calibration, options: options, ml: ml), "does not exist");
        Refused<ArgumentException>(() => CifarQuantization.Quantize(m.Zip, folder.File("x.zip"), calibration, options: new() { WeightBits = 6 }, ml: ml), "WeightBits must be 7 or 8 (got 6)");
        Refused<ArgumentException>(() => CifarQuantization.Quantize(m.Zip, folder.File("x.zip"), calibration, options: new() { CalibrationImages = 0 }, ml: ml), "CalibrationImages must be 1 or more");
        Refused<ArgumentException>(() => CifarQuantization.Quantize(m.Zip, folder.File("x.zip"), calibration, options: new() { MaxAccuracyDrop = double.NaN }, ml: ml), "MaxAccuracyDrop");
        Refused<FileNotFoundException>(() => CifarQuantization.Quantize(folder.File("none.zip"), folder.File("x.zip"), calibration, options: options, ml: ml), "none.zip");
        Assert.Equal(["int8.zip"], Directory.GetFiles(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void An_accuracy_loss_beyond_the_allowed_one_writes_nothing_and_names_both_accuracies()
    {
        var measured = new ModelQuantization("int8", 512, "00", 0.9401, 0.9362, 10000);
        var e = new QuantizationRefusedException(measured, 0.3);
        Assert.Equal("the int8 model's accuracy 93.62 % is 0.39 points below the float32 model's 94.01 % on 10000 images (at most 0.3 allowed); nothing written", e.Message);
        Assert.Same(measured, e.Measured);
    }

    private static IEnumerable<string> TestImages(int count) =>
        Directory.GetDirectories(Path.Combine(TestData.RequireRoot(), "test")).Order(StringComparer.Ordinal)
            .SelectMany(c => Directory.GetFiles(c).Order(StringComparer.Ordinal).Take(2)).Take(count);
}
