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
        if (input.PredictedLabelOnnx is not { Length: 1 })
            throw new InvalidOperationException("the model's class-name output is not a single value");
        output.PredictedLabel = input.PredictedLabelOnnx[0];
    };

    /// <summary>What the stage reads: the ONNX graph's class-name output.</summary>
    public sealed class Input
    {
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
