using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Stages;

/// <summary>Empty data views with given columns, for fitting transformers that need only a schema.</summary>
internal static class SchemaOnly
{
    public static IDataView View(MLContext ml, string columnName, DataViewType type) =>
        ml.Data.LoadFromEnumerable(Array.Empty<VectorRow>(), VectorDefinition(columnName, type));

    /// <summary>A <see cref="VectorRow"/> definition whose one column is named and typed as given.</summary>
    public static SchemaDefinition VectorDefinition(string columnName, DataViewType type)
    {
        var definition = SchemaDefinition.Create(typeof(VectorRow));
        var column = definition[nameof(VectorRow.Values)];
        column.ColumnName = columnName;
        column.ColumnType = type;
        return definition;
    }

    public static IDataView TextView(MLContext ml, string columnName)
    {
        var definition = SchemaDefinition.Create(typeof(TextRow));
        definition[nameof(TextRow.Value)].ColumnName = columnName;
        return ml.Data.LoadFromEnumerable(Array.Empty<TextRow>(), definition);
    }

    /// <summary>A float-vector row, its column renamed and typed through a <see cref="SchemaDefinition"/>.</summary>
    internal sealed class VectorRow
    {
        public float[] Values { get; set; } = [];
    }

    private sealed class TextRow
    {
        public string Value { get; set; } = "";
    }
}
