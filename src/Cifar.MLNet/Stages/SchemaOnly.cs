using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.MLNet.Stages;

/// <summary>
/// Empty data views with given columns, for fitting transformers that need only a schema. They need no ML.NET context,
/// so a stage built from the caller's catalog makes them without one of its own.
/// </summary>
internal static class SchemaOnly
{
    /// <summary>An empty view of one column of <paramref name="type"/>.</summary>
    public static IDataView View(string columnName, DataViewType type)
    {
        var schema = new DataViewSchema.Builder();
        schema.AddColumn(columnName, type);
        return new EmptyView(schema.ToSchema());
    }

    /// <summary>An empty view of one text column.</summary>
    public static IDataView TextView(string columnName) => View(columnName, TextDataViewType.Instance);

    /// <summary>A <see cref="VectorRow"/> definition whose one column is named and typed as given.</summary>
    public static SchemaDefinition VectorDefinition(string columnName, DataViewType type)
    {
        var definition = SchemaDefinition.Create(typeof(VectorRow));
        var column = definition[nameof(VectorRow.Values)];
        column.ColumnName = columnName;
        column.ColumnType = type;
        return definition;
    }

    /// <summary>A float-vector row, its column renamed and typed through a <see cref="SchemaDefinition"/>.</summary>
    internal sealed class VectorRow
    {
        public float[] Values { get; set; } = [];
    }

    private sealed class EmptyView(DataViewSchema schema) : IDataView
    {
        public bool CanShuffle => false;
        public DataViewSchema Schema => schema;
        public long? GetRowCount() => 0;
        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new NoRows(schema);
        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [new NoRows(schema)];
    }

    private sealed class NoRows(DataViewSchema schema) : DataViewRowCursor
    {
        public override DataViewSchema Schema => schema;
        public override long Position => -1;
        public override long Batch => 0;
        public override bool MoveNext() => false;
        public override bool IsColumnActive(DataViewSchema.Column column) => true;
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => (ref TValue _) => throw NoRow();
        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId _) => throw NoRow();
        private static InvalidOperationException NoRow() => new("an empty view has no row to read");
    }
}
