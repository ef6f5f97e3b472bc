using Microsoft.ML;
using Microsoft.ML.Data;

namespace Cifar.Host.Commands;

/// <summary>
/// A data view whose cursors stop with <see cref="OperationCanceledException"/> once <paramref name="cancellation"/> is
/// cancelled: put under a scoring chain, Ctrl+C stops <c>evaluate</c> between rows, and the chain's disposal cleans up.
/// </summary>
internal sealed class CancellableDataView(IDataView source, CancellationToken cancellation) : IDataView
{
    public DataViewSchema Schema => source.Schema;

    public bool CanShuffle => source.CanShuffle;

    public long? GetRowCount() => source.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(source.GetRowCursor(columnsNeeded, rand), cancellation);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        source.GetRowCursorSet(columnsNeeded, n, rand).Select(c => (DataViewRowCursor)new Cursor(c, cancellation)).ToArray();

    private sealed class Cursor(DataViewRowCursor inner, CancellationToken cancellation) : DataViewRowCursor
    {
        public override DataViewSchema Schema => inner.Schema;
        public override long Position => inner.Position;
        public override long Batch => inner.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => inner.IsColumnActive(column);
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => inner.GetGetter<TValue>(column);

        public override bool MoveNext()
        {
            cancellation.ThrowIfCancellationRequested();
            return inner.MoveNext();
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
