using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet;

/// <summary>
/// Ends a pipeline of Cifar stages with the CNN trainer and a validation set given as raw split data: the stages are
/// fitted on the training data, the validation set goes through those very fitted stages, then the CNN trains.
/// </summary>
public static class CifarPipeline
{
    /// <summary>
    /// <c>stages.AppendCifarCnn(options, testSplit)</c>: fits <paramref name="stages"/>, featurizes
    /// <paramref name="rawValidation"/> with them (the augmentation stage is the identity there) and trains with it as
    /// <see cref="CifarCnnOptions.ValidationSet"/>. The fitted model is the stages followed by the CNN.
    /// </summary>
    /// <param name="stages">The loading, normalization and augmentation stages.</param>
    /// <param name="options">The trainer's options; validated now.</param>
    /// <param name="rawValidation">Rows like the training data's (image path and label), or null for none.</param>
    /// <exception cref="OptionsException">An option is out of range.</exception>
    public static CifarTrainingEstimator AppendCifarCnn(this IEstimator<ITransformer> stages, CifarCnnOptions options,
        IDataView? rawValidation = null) =>
        new(stages, options, rawValidation);
}

/// <summary>The stages followed by <see cref="CifarCnnEstimator"/>; see <see cref="CifarPipeline.AppendCifarCnn"/>.</summary>
public sealed class CifarTrainingEstimator : IEstimator<TransformerChain<CifarCnnTransformer>>
{
    private readonly IEstimator<ITransformer> _stages;
    private readonly CifarCnnOptions _options;
    private readonly IDataView? _rawValidation;

    internal CifarTrainingEstimator(IEstimator<ITransformer> stages, CifarCnnOptions options, IDataView? rawValidation)
    {
        options.Validate();
        _stages = stages;
        _options = options;
        _rawValidation = rawValidation;
    }

    /// <inheritdoc />
    public TransformerChain<CifarCnnTransformer> Fit(IDataView input)
    {
        var stages = _stages.Fit(input);
        CifarCnnTransformer cnn;
        try
        {
            var options = _rawValidation is null ? _options : _options with { ValidationSet = stages.Transform(_rawValidation) };
            cnn = new CifarCnnEstimator(options).Fit(stages.Transform(input));
        }
        catch
        {
            // Refused, failed or cancelled: the fitted stages hold ONNX graph files in the temporary folder until disposed.
            (stages as IDisposable)?.Dispose();
            throw;
        }
        // One flat chain, as EstimatorChain.Fit makes: the zip then lists every stage at the top level.
        var parts = stages is IEnumerable<ITransformer> chain ? chain.ToList() : new List<ITransformer> { stages };
        parts.Add(cnn);
        return new TransformerChain<CifarCnnTransformer>(parts.ToArray());
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        new CifarCnnEstimator(_options).GetOutputSchema(_stages.GetOutputSchema(inputSchema));
}
