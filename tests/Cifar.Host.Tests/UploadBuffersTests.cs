using Cifar.Host.Serving;

namespace Cifar.Host.Tests;

/// <summary>The chunks uploads are read into: the byte budget, reading them back, and giving memory back when idle.</summary>
public class UploadBuffersTests
{
    [Fact]
    public void Chunks_past_the_budget_are_refused_and_every_returned_chunk_frees_its_share()
    {
        using var buffers = new UploadBuffers(maxBytes: 3 * UploadBuffers.ChunkBytes, idleBeforeRelease: TimeSpan.Zero);
        var chunks = Enumerable.Range(0, 3).Select(_ => buffers.TryRent()).ToList();
        Assert.All(chunks, Assert.NotNull);
        Assert.Null(buffers.TryRent());
        Assert.Equal(3L * UploadBuffers.ChunkBytes, buffers.Held);
        buffers.Return(chunks[0]!);
        Assert.NotNull(buffers.TryRent());
    }

    [Fact]
    public void Bytes_written_across_chunks_read_back_the_same_from_any_position()
    {
        using var buffers = new UploadBuffers(maxBytes: 1 << 30, idleBeforeRelease: TimeSpan.Zero);
        var expected = new byte[3 * UploadBuffers.ChunkBytes + 123];
        new Random(7).NextBytes(expected);
        using (var bytes = new ChunkedBytes(buffers))
        {
            for (int written = 0; written < expected.Length;)
            {
                var room = bytes.Room()!.Value;
                int count = Math.Min(Math.Min(room.Length, 5_000), expected.Length - written); // uneven writes, as reads arrive
                expected.AsSpan(written, count).CopyTo(room.Span);
                bytes.Advance(count);
                written += count;
            }
            Assert.Equal(expected.Length, bytes.Length);
            using var stream = bytes.OpenRead();
            var all = new MemoryStream();
            stream.CopyTo(all);
            Assert.Equal(expected, all.ToArray());
            stream.Position = UploadBuffers.ChunkBytes - 10;
            var across = new byte[20];
            stream.ReadExactly(across);
            Assert.Equal(expected.AsSpan(UploadBuffers.ChunkBytes - 10, 20).ToArray(), across);
            Assert.Equal(4L * UploadBuffers.ChunkBytes, buffers.Held);
        }
        Assert.Equal(0, buffers.Held);
    }

    [Fact]
    public void Memory_is_released_once_idle_after_a_burst_and_not_while_a_chunk_is_held()
    {
        using var buffers = new UploadBuffers(maxBytes: 1 << 30, idleBeforeRelease: TimeSpan.Zero);
        Assert.False(buffers.ReleaseIfIdle()); // no burst yet
        var burst = Enumerable.Range(0, (32 << 20) / UploadBuffers.ChunkBytes).Select(_ => buffers.TryRent()!).ToList();
        Assert.False(buffers.ReleaseIfIdle()); // chunks are held
        foreach (var chunk in burst) buffers.Return(chunk);
        Assert.True(buffers.ReleaseIfIdle());
        Assert.False(buffers.ReleaseIfIdle()); // once per burst
    }
}
