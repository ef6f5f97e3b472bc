using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Stages;

/// <summary>
/// Base of the Cifar transformers. Each does its work in memory through one ML.NET transformer
/// and saves itself as another, standard one. ML.NET keeps <see cref="ModelSaveContext"/> internal,
/// so a transformer outside ML.NET cannot write its own state into a model zip; delegating
/// <see cref="ICanSaveModel.Save"/> to a standard transformer (an ONNX graph, an image chain) puts
/// an equivalent into the zip, which ML.NET loads as that standard transformer.
/// </summary>
public abstract class DelegatingTransformer : ITransformer, ICanSaveModel
{
    /// <summary>Pairs the in-memory transformer with the standard one saved in its place.</summary>
    private protected DelegatingTransformer(ITransformer inMemory, ITransformer savedForm)
    {
        InMemory = inMemory;
        SavedForm = savedForm;
    }

    /// <summary>The transformer that does the work in memory.</summary>
    private protected ITransformer InMemory { get; }

    /// <summary>The standard transformer written into a model zip in this one's place.</summary>
    private protected ITransformer SavedForm { get; }

    /// <inheritdoc />
    public bool IsRowToRowMapper => InMemory.IsRowToRowMapper;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => InMemory.GetOutputSchema(inputSchema);

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => InMemory.GetRowToRowMapper(inputSchema);

    /// <inheritdoc />
    public IDataView Transform(IDataView input) => InMemory.Transform(input);

    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)SavedForm).Save(ctx);

    /// <summary>
    /// Disposes both forms where they hold resources: ML.NET's ONNX transformer keeps its graph in a
    /// temporary file, deleted only when it is disposed. For a derived class's <c>Dispose</c>.
    /// </summary>
    private protected void DisposeForms()
    {
        (InMemory as IDisposable)?.Dispose();
        if (!ReferenceEquals(SavedForm, InMemory)) (SavedForm as IDisposable)?.Dispose();
    }
}

