using Cifar.MLNet.Prediction;
using Cifar.MLNet.Stages;
using Cifar.Trainer.Onnx;
using Cifar.Trainer.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet;

/// <summary>
/// A trained CIFAR CNN. In memory it scores with the TorchSharp network; in a model zip it is an
/// ONNX graph of the same network (run by ONNX Runtime, no libtorch needed) followed by the small
/// <see cref="PredictedLabelMapping"/> stage.
/// </summary>
public sealed class CifarCnnTransformer : DelegatingTransformer, IDisposable
{
    /// <summary>The ONNX graph's class-name output: a [1] string vector, made scalar by <see cref="PredictedLabelMapping"/>.</summary>
    internal const string OnnxLabelColumn = "PredictedLabelOnnx";

    private readonly TrainedNetwork _trained;
    private readonly OnnxGraphFile _graph;

    private CifarCnnTransformer(ITransformer inMemory, ITransformer savedForm, TrainedNetwork trained, OnnxGraphFile graph,
        IReadOnlyList<string> classNames, ImageFormat format, PixelNormalization? normalization, AugmentationOptions? augmentation)
        : base(inMemory, savedForm)
    {
        ImageFormat = format;
        _trained = trained;
        _graph = graph;
        ClassNames = classNames;
        Normalization = normalization;
        Augmentation = augmentation;
    }

    internal static CifarCnnTransformer Create(MLContext ml, TrainedNetwork trained, IReadOnlyList<string> classNames,
        DataViewType featureType, string featureColumnName, ImageFormat format, PixelNormalization? normalization, AugmentationOptions? augmentation)
    {
        var inference = new NetworkInference(trained.Network, trained.Device, trained.TestTimeAugmentation, format.Channels, format.Height, format.Width);
        var schemaOnly = SchemaOnly.View(featureColumnName, featureType);
        var inMemory = ScoringMapping(ml, featureColumnName, featureType, classNames, inference.Probabilities).Fit(schemaOnly);

        var onnx = NetworkOnnxExporter.Export(trained.Network, trained.Definition, classNames,
            new ClassifierGraphNames(featureColumnName, CifarColumns.Score, OnnxLabelColumn), trained.TestTimeAugmentation,
            format.Channels, format.Height, format.Width, ((VectorDataViewType)featureType).Dimensions.Select(d => (long)d).ToArray());
        // From a file this transformer owns: ML.NET's copy of a graph given as a stream outlives the transformer.
        var graph = new OnnxGraphFile(ml.TempFilePath, onnx);
        try
        {
            var savedForm = ml.Transforms.ApplyOnnxModel(new[] { CifarColumns.Score, OnnxLabelColumn }, new[] { featureColumnName }, graph.Path)
                .Append(PredictedLabelMapping.Create(ml))
                .Append(ml.Transforms.DropColumns(OnnxLabelColumn))
                .Fit(schemaOnly);
            return new CifarCnnTransformer(inMemory, savedForm, trained, graph, classNames, format, normalization, augmentation);
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    /// <summary>Class names, in label-key order: slot i of <c>Score</c> is the probability of class i.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>One entry per training epoch.</summary>
    public IReadOnlyList<EpochMetrics> History => _trained.History;

    /// <summary>
    /// The validation set's log-loss, accuracy and confusion matrix after the last epoch, measured by
    /// the trainer on the device (null without a validation set, or when a resumed run had no epoch left).
    /// </summary>
    public ValidationResult? FinalValidation => _trained.FinalValidation;

    /// <summary>The device the network trained on (e.g. <c>cpu</c>, <c>cuda:0</c>).</summary>
    public string Device => _trained.Device.ToString();

    /// <summary>The images the network takes: their size and colours.</summary>
    public ImageFormat ImageFormat { get; }

    /// <summary>The features' normalization, as the normalization stage recorded it (null without that stage).</summary>
    public PixelNormalization? Normalization { get; }

    /// <summary>The augmentation used while fitting (null without any).</summary>
    public AugmentationOptions? Augmentation { get; }

    /// <summary>The trained TorchSharp network (owned by this transformer).</summary>
    internal TorchSharp.Modules.Sequential Network => _trained.Network;

    /// <inheritdoc />
    public void Dispose()
    {
        _trained.Dispose();
        DisposeForms();
        _graph.Dispose(); // after the ONNX transformer that reads it
    }

    /// <summary>Features → Score (softmax, slot names) and PredictedLabel (class name), by <paramref name="probabilities"/>.</summary>
    internal static IEstimator<ITransformer> ScoringMapping(MLContext ml, string featureColumnName, DataViewType featureType,
        IReadOnlyList<string> classNames, Func<float[], float[]> probabilities)
    {
        var input = SchemaOnly.VectorDefinition(featureColumnName, featureType);
        var output = SchemaDefinition.Create(typeof(ScoredRow));
        if (classNames.Count > 0)
        {
            var score = output[nameof(ScoredRow.Score)];
            score.ColumnType = new VectorDataViewType(NumberDataViewType.Single, classNames.Count);
            var slotNames = new VBuffer<ReadOnlyMemory<char>>(classNames.Count, classNames.Select(n => n.AsMemory()).ToArray());
            score.AddAnnotation("SlotNames", slotNames,
                new VectorDataViewType(TextDataViewType.Instance, classNames.Count));
        }
        var names = classNames.ToArray();
        return ml.Transforms.CustomMapping<SchemaOnly.VectorRow, ScoredRow>((src, dst) =>
        {
            dst.Score = probabilities(src.Values);
            dst.PredictedLabel = names[ArgMax(dst.Score)];
        }, contractName: null, input, output);
    }

    private static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    private sealed class ScoredRow
    {
        public float[] Score { get; set; } = [];
        public string PredictedLabel { get; set; } = "";
    }
}
