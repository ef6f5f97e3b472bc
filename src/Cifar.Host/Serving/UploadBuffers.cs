using System.Buffers;
using System.Diagnostics;

namespace Cifar.Host.Serving;

/// <summary>
/// The fixed-size chunks request bodies are read into (pooled, small enough to stay off the large object heap), counted
/// against <see cref="ServeSettings.MaxBufferedBytes"/>. Once no chunk has been held for
/// <see cref="ServeSettings.ReleaseMemoryAfterIdle"/> after a burst, a compacting collection gives the memory back to the
/// system: without allocations the GC does not run, and the process would keep its peak.
/// </summary>
internal sealed class UploadBuffers : IDisposable
{
    /// <summary>One chunk's size: under the large object heap's 85,000 bytes.</summary>
    public const int ChunkBytes = 64 << 10;

    /// <summary>A burst that held less than this leaves nothing worth a full collection.</summary>
    private const long ReleaseAboveBytes = 16 << 20;

    private readonly long _maxBytes;
    private readonly TimeSpan _idleBeforeRelease;
    private readonly Timer _idleCheck;
    private long _held;
    private long _peakSinceRelease;
    private long _lastRent = Stopwatch.GetTimestamp();

    public UploadBuffers(long maxBytes, TimeSpan idleBeforeRelease)
    {
        _maxBytes = maxBytes;
        _idleBeforeRelease = idleBeforeRelease;
        var period = idleBeforeRelease > TimeSpan.Zero ? idleBeforeRelease / 2 : Timeout.InfiniteTimeSpan;
        _idleCheck = new Timer(_ => ReleaseIfIdle(), null, period, period);
    }

    /// <summary>Bytes in chunks rented and not yet returned, by all requests.</summary>
    public long Held => Interlocked.Read(ref _held);

    /// <summary>A chunk of <see cref="ChunkBytes"/> or more, or null when it would pass the budget.</summary>
    public byte[]? TryRent()
    {
        long held = Interlocked.Add(ref _held, ChunkBytes);
        if (held > _maxBytes)
        {
            Interlocked.Add(ref _held, -ChunkBytes);
            return null;
        }
        Interlocked.Exchange(ref _lastRent, Stopwatch.GetTimestamp());
        if (held > Interlocked.Read(ref _peakSinceRelease)) Interlocked.Exchange(ref _peakSinceRelease, held); // a rough peak is enough
        return ArrayPool<byte>.Shared.Rent(ChunkBytes);
    }

    public void Return(byte[] chunk)
    {
        ArrayPool<byte>.Shared.Return(chunk);
        Interlocked.Add(ref _held, -ChunkBytes);
    }

    /// <summary>Compacts the heap when no chunk is held, none was rented lately and a burst came before.</summary>
    /// <returns>Whether memory was released.</returns>
    public bool ReleaseIfIdle()
    {
        if (Held != 0 || Interlocked.Read(ref _peakSinceRelease) < ReleaseAboveBytes
            || Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastRent)) < _idleBeforeRelease) return false;
        Interlocked.Exchange(ref _peakSinceRelease, 0);
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return true;
    }

    public void Dispose() => _idleCheck.Dispose();
}

/// <summary>An uploaded image's bytes in chunks from <see cref="UploadBuffers"/>, readable as a seekable stream.</summary>
internal sealed class ChunkedBytes(UploadBuffers buffers) : IDisposable
{
    private readonly List<byte[]> _chunks = [];

    public long Length { get; private set; }

    /// <summary>Room for the next bytes (a new chunk when the last is full), or null when the budget is spent.</summary>
    public Memory<byte>? Room()
    {
        int used = (int)(Length % UploadBuffers.ChunkBytes);
        if (Length == (long)_chunks.Count * UploadBuffers.ChunkBytes) // the last chunk is full, or there is none
        {
            if (buffers.TryRent() is not { } chunk) return null;
            _chunks.Add(chunk);
        }
        return _chunks[^1].AsMemory(used, UploadBuffers.ChunkBytes - used);
    }

    /// <summary>Counts <paramref name="count"/> bytes written into the last <see cref="Room"/>.</summary>
    public void Advance(int count) => Length += count;

    public Stream OpenRead() => new Reader(this);

    public void Dispose()
    {
        foreach (var chunk in _chunks) buffers.Return(chunk);
        _chunks.Clear();
        Length = 0;
    }

    private sealed class Reader(ChunkedBytes bytes) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => bytes.Length;
        public override long Position { get; set; }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int read = (int)Math.Min(buffer.Length, Math.Max(0, Length - Position));
            for (int done = 0; done < read;)
            {
                int within = (int)(Position % UploadBuffers.ChunkBytes);
                int count = Math.Min(read - done, UploadBuffers.ChunkBytes - within);
                bytes._chunks[(int)(Position / UploadBuffers.ChunkBytes)].AsSpan(within, count).CopyTo(buffer[done..]);
                done += count;
                Position += count;
            }
            return read;
        }

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => Position + offset,
            _ => Length + offset,
        };

        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
