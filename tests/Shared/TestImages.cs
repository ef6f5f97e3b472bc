namespace Cifar.Tests;

/// <summary>Small image and CIFAR binary-batch files written by the tests themselves.</summary>
public static class TestImages
{
    /// <summary>Writes an uncompressed 24-bit BMP whose pixel (x, y) is <paramref name="rgb"/>(x, y).</summary>
    public static void WriteBmp(string path, int width, int height, Func<int, int, (byte R, byte G, byte B)> rgb)
    {
        int rowSize = (width * 3 + 3) / 4 * 4;
        int dataSize = rowSize * height;
        using var w = new BinaryWriter(File.Create(path));
        w.Write((byte)'B'); w.Write((byte)'M');
        w.Write(54 + dataSize); w.Write(0); w.Write(54);
        w.Write(40); w.Write(width); w.Write(height); w.Write((short)1); w.Write((short)24);
        w.Write(0); w.Write(dataSize); w.Write(2835); w.Write(2835); w.Write(0); w.Write(0);
        var row = new byte[rowSize];
        for (int y = height - 1; y >= 0; y--) // BMP rows go bottom-up
        {
            for (int x = 0; x < width; x++)
            {
                var (r, g, b) = rgb(x, y);
                row[x * 3] = b; row[x * 3 + 1] = g; row[x * 3 + 2] = r;
            }
            w.Write(row);
        }
    }

    /// <summary>
    /// Writes a small PNG whose IHDR declares <paramref name="width"/>×<paramref name="height"/> (8-bit
    /// RGB), with valid CRCs and one IDAT chunk of a few compressed rows: a decoder believes the header.
    /// </summary>
    public static void WritePngDeclaring(string path, int width, int height)
    {
        using var file = File.Create(path);
        file.Write(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A });
        var ihdr = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // RGB; compression, filter and interlace 0
        WritePngChunk(file, "IHDR", ihdr);
        using (var rows = new MemoryStream())
        {
            using (var z = new System.IO.Compression.ZLibStream(rows, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
                z.Write(new byte[Math.Min(1 + 3L * width, 1 << 20) * 4]);
            WritePngChunk(file, "IDAT", rows.ToArray());
        }
        WritePngChunk(file, "IEND", Array.Empty<byte>());
    }

    private static void WritePngChunk(Stream file, string type, byte[] data)
    {
        var header = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, data.Length);
        System.Text.Encoding.ASCII.GetBytes(type, header.AsSpan(4));
        file.Write(header);
        file.Write(data);
        var crc = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(header.AsSpan(4), data));
        file.Write(crc);
    }

    // PNG's CRC-32 (ISO 3309) over the chunk type and data.
    private static uint Crc32(ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var part in new[] { type.ToArray(), data.ToArray() })
            foreach (byte b in part)
            {
                crc ^= b;
                for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
            }
        return ~crc;
    }

    /// <summary>A deterministic test pattern: every pixel and channel differs.</summary>
    public static (byte R, byte G, byte B) Pattern(int x, int y) => ((byte)(x * 8), (byte)(y * 8), (byte)((x + y) * 3 + 10));

    /// <summary>
    /// Writes a CIFAR-10 binary layout into <paramref name="folder"/>: batches.meta.txt and the six
    /// batch files, each with <paramref name="recordsPerBatch"/> records. Record i of a batch has
    /// label i mod classes and every pixel of channel c equal to (i + 10·c) mod 256.
    /// </summary>
    public static void WriteBinaryBatches(string folder, int recordsPerBatch, int classes = 10)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllLines(Path.Combine(folder, "batches.meta.txt"),
            Enumerable.Range(0, classes).Select(c => $"class{c}").Append(""));
        foreach (var name in Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").Append("test_batch.bin"))
            File.WriteAllBytes(Path.Combine(folder, name), Batch(recordsPerBatch, classes));
    }

    /// <summary>The bytes of one batch file as <see cref="WriteBinaryBatches"/> writes it.</summary>
    public static byte[] Batch(int records, int classes = 10)
    {
        var bytes = new byte[records * 3073];
        for (int i = 0; i < records; i++)
        {
            bytes[i * 3073] = (byte)(i % classes);
            for (int c = 0; c < 3; c++)
                Array.Fill(bytes, (byte)((i + 10 * c) % 256), i * 3073 + 1 + c * 1024, 1024);
        }
        return bytes;
    }
}
