using System.Buffers.Binary;
using System.IO.Compression;
using Google.Protobuf;
using Onnx;

namespace Cifar.MLNet.Export;

/// <summary>
/// The ONNX graphs inside an ML.NET model zip. ML.NET's ONNX transformer saves its graph as an
/// <c>OnnxModel</c> entry in its folder of the zip: a 4-byte little-endian length, then the model's bytes.
/// </summary>
internal static class ZipOnnxParts
{
    private const string EntryName = "OnnxModel";

    /// <summary>Every ONNX graph of the zip <paramref name="zip"/>, in entry order.</summary>
    /// <exception cref="InvalidDataException">An entry does not hold an ONNX model.</exception>
    public static IReadOnlyList<ModelProto> Read(byte[] zip, string name) => ReadEntries(zip, name).Select(e => e.Model).ToArray();

    /// <summary>Every ONNX graph of the zip <paramref name="zip"/> with its entry's full name, in entry order.</summary>
    /// <exception cref="InvalidDataException">An entry does not hold an ONNX model.</exception>
    public static IReadOnlyList<(string Entry, ModelProto Model)> ReadEntries(byte[] zip, string name)
    {
        using var archive = new ZipArchive(new MemoryStream(zip, writable: false), ZipArchiveMode.Read);
        return archive.Entries
            .Where(e => e.Name == EntryName)
            .OrderBy(e => e.FullName, StringComparer.Ordinal)
            .Select(e => (e.FullName, Parse(e, name)))
            .ToArray();
    }

    /// <summary>The zip <paramref name="zip"/> with the graph of entry <paramref name="entry"/> replaced by <paramref name="model"/>; every other entry as it was.</summary>
    public static byte[] Replace(byte[] zip, string entry, ModelProto model)
    {
        using var source = new ZipArchive(new MemoryStream(zip, writable: false), ZipArchiveMode.Read);
        var result = new MemoryStream();
        using (var target = new ZipArchive(result, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var e in source.Entries)
            {
                var copy = target.CreateEntry(e.FullName, CompressionLevel.Optimal);
                copy.LastWriteTime = e.LastWriteTime;
                using var to = copy.Open();
                if (e.FullName == entry)
                {
                    var bytes = model.ToByteArray();
                    var length = new byte[4];
                    BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
                    to.Write(length);
                    to.Write(bytes);
                }
                else
                {
                    using var from = e.Open();
                    from.CopyTo(to);
                }
            }
        }
        return result.ToArray();
    }

    private static ModelProto Parse(ZipArchiveEntry entry, string name)
    {
        using var stream = entry.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
        int length = bytes.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(bytes) : -1;
        if (length != bytes.Length - 4)
            throw new InvalidDataException($"{name}: not a Cifar model zip: {entry.FullName} is not an ONNX graph as ML.NET saves one");
        try
        {
            return ModelProto.Parser.ParseFrom(bytes[4..]);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{name}: not a Cifar model zip: {entry.FullName} does not parse as ONNX ({ErrorText.FirstLine(e.Message)})", e);
        }
    }
}
