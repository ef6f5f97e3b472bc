using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Cifar.MLNet.Prediction;

/// <summary>
/// The saved model's last stage: turns the ONNX graph's one-element class-name vector into the
/// scalar text column <c>PredictedLabel</c> (ML.NET's OnnxTransformer cannot output scalars).
/// Saved in the zip by its contract name; ML.NET finds this assembly by the name stored there.
/// It calls no TorchSharp code.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class PredictedLabelMapping : CustomMappingFactory<PredictedLabelMapping.Input, PredictedLabelMapping.Output>
{
    /// <summary>The contract name stored in model zips.</summary>
    public const string ContractName = "Cifar.PredictedLabel";

    /// <summary>The mapping as an estimator.</summary>
    public static IEstimator<ITransformer> Create(MLContext ml) =>
        ml.Transforms.CustomMapping(new PredictedLabelMapping().GetMapping(), ContractName);

    /// <inheritdoc />
    public override Action<Input, Output> GetMapping() => (input, output) =>
    {
        // A zip may come from anyone: refuse what this stage was not made for rather than pass it on.
        if (input.PredictedLabelOnnx is not { Length: 1 })
            throw new CifarModelException("the model's class-name output is not a single value");
        if (input.Score is not { Length: >= 2 })
            throw new CifarModelException($"the model scores {input.Score?.Length ?? 0} classes; a classifier has at least 2");
        double sum = 0;
        foreach (var p in input.Score)
        {
            if (!float.IsFinite(p) || p < 0)
                throw new CifarModelException($"the model gave a score of {p}; probabilities must be finite and not negative");
            sum += p;
        }
        if (Math.Abs(sum - 1) > 1e-3)
            throw new CifarModelException($"the model's scores sum to {sum:G6}, not 1: they are not probabilities");
        output.PredictedLabel = input.PredictedLabelOnnx[0];
    };

    /// <summary>What the stage reads: the ONNX graph's outputs.</summary>
    public sealed class Input
    {
        /// <summary>The class probabilities (checked: finite, summing to 1).</summary>
        [VectorType]
        public float[] Score { get; set; } = [];

        /// <summary>The most probable class's name, as a one-element vector.</summary>
        [VectorType(1)]
        public string[] PredictedLabelOnnx { get; set; } = [];
    }

    /// <summary>What the stage writes.</summary>
    public sealed class Output
    {
        /// <summary>The most probable class's name.</summary>
        public string PredictedLabel { get; set; } = "";
    }
}
