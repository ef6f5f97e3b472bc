using System.Globalization;
using SkiaSharp;

namespace Cifar.MLNet.Data;

/// <summary>
/// Checks on files given by users (images and models) made before anything decodes them, each
/// failure an exception whose message is one line naming the file and what is wrong.
/// </summary>
public static class ImageFiles
{
    /// <summary>
    /// The largest image decoded, in pixels (4096 × 4096, about 16.8 megapixels; 64 MiB as RGBA).
    /// A file declaring more is refused from its header, before decoding: a small file can declare a
    /// canvas whose pixels would not fit in memory.
    /// </summary>
    public const long MaxPixels = 4096L * 4096;

    /// <summary>
    /// Checks that <paramref name="path"/> is a readable file: not a folder, not missing, not a
    /// symbolic link to nothing, and that it opens for reading.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="what">How messages call it, e.g. "image file", "model file".</param>
    /// <exception cref="FileNotFoundException">There is no such file (or the link points nowhere).</exception>
    /// <exception cref="UnauthorizedAccessException">It may not be read.</exception>
    /// <exception cref="InvalidDataException">It is a folder, cannot be opened, or is not a path (a NUL character in it).</exception>
    public static void RequireReadableFile(string path, string what)
    {
        // .NET's file APIs throw ArgumentException for these two: named here as the input they are.
        if (path.Length == 0) throw new FileNotFoundException($"the {what} path is empty", path);
        if (path.Contains('\0')) throw new InvalidDataException($"{path}: not a usable {what} path (it holds a NUL character)");
        if (Directory.Exists(path)) throw new InvalidDataException($"{path}: is a folder, not {("aeiou".Contains(what[0]) ? "an" : "a")} {what}");
        var info = new FileInfo(path);
        // File.Exists is true for a link whose target is missing; opening it would say "could not find" the link itself.
        if (info.LinkTarget is { } target && ResolvesToNothing(info))
            throw new FileNotFoundException($"{path}: {what} not found (a symbolic link to {target}, which does not exist)", path);
        if (!info.Exists) throw new FileNotFoundException($"{path}: {what} not found", path);
        try
        {
            using var _ = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        }
        catch (UnauthorizedAccessException)
        {
            throw new UnauthorizedAccessException($"{path}: {what} cannot be read (permission denied)");
        }
        catch (IOException e)
        {
            throw new InvalidDataException($"{path}: {what} cannot be opened ({ErrorText.FirstLine(e.Message)})");
        }
    }

    private static bool ResolvesToNothing(FileInfo link)
    {
        try
        {
            return link.ResolveLinkTarget(returnFinalTarget: true) is not { Exists: true };
        }
        catch (IOException)
        {
            return true; // a loop of links
        }
    }

    /// <summary>
    /// Checks an image file before decoding: readable (<see cref="RequireReadableFile"/>), of a format
    /// the decoder knows (JPEG, PNG, BMP, GIF, WebP, …), and declaring at most <see cref="MaxPixels"/>.
    /// Reads the header only.
    /// </summary>
    /// <returns>The size the header declares.</returns>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="UnauthorizedAccessException">It may not be read.</exception>
    /// <exception cref="InvalidDataException">A folder, not an image, or declaring too many pixels.</exception>
    public static (int Width, int Height) Check(string path)
    {
        RequireReadableFile(path, "image file");
        try
        {
            using var stream = File.OpenRead(path);
            return CheckHeader(stream, path);
        }
        catch (UnauthorizedAccessException)
        {
            throw new UnauthorizedAccessException($"{path}: image file cannot be read (permission denied)");
        }
        catch (IOException e)
        {
            throw new InvalidDataException($"{path}: image file cannot be read ({ErrorText.FirstLine(e.Message)})");
        }
    }

    /// <summary>Checks encoded image bytes before decoding, as <see cref="Check(string)"/> checks a file.</summary>
    /// <param name="encoded">The encoded image.</param>
    /// <param name="name">How messages name it.</param>
    public static (int Width, int Height) CheckEncoded(byte[] encoded, string name = "the image")
    {
        using var stream = new MemoryStream(encoded, writable: false);
        return CheckHeader(stream, name);
    }

    /// <summary>Checks an encoded image in a seekable stream from its current position, which it leaves where it was.</summary>
    /// <param name="encoded">The encoded image (seekable).</param>
    /// <param name="name">How messages name it.</param>
    public static (int Width, int Height) CheckEncoded(Stream encoded, string name = "the image")
    {
        long start = encoded.Position;
        try
        {
            return CheckHeader(new Borrowed(encoded), name); // SkiaSharp disposes the stream it reads a header from
        }
        finally
        {
            encoded.Position = start;
        }
    }

    private static (int Width, int Height) CheckHeader(Stream stream, string name)
    {
        // SKCodec reads the header (PNG IHDR, JPEG SOFn, BMP, GIF and WebP headers) and decodes nothing.
        using var codec = SKCodec.Create(stream, out var result);
        if (codec is null)
            throw new InvalidDataException($"{name}: not an image that can be decoded ({Describe(result)})");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        if (width <= 0 || height <= 0)
            throw new InvalidDataException($"{name}: not an image that can be decoded (it declares {width}×{height} pixels)");
        if ((long)width * height > MaxPixels)
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{name}: declares a {width}×{height} image, {(long)width * height:N0} pixels; images of more than {MaxPixels:N0} pixels (4096×4096) are refused before decoding"));
        return (width, height);
    }

    private static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.Unimplemented => "not a known image format",
        SKCodecResult.IncompleteInput => "the file ends inside the image header",
        SKCodecResult.InvalidInput => "an invalid image header",
        _ => $"not a known image format: {result}",
    };

    /// <summary>
    /// A view of a stream from its current position that readers may dispose without closing it: SkiaSharp disposes the
    /// stream it decodes and may rewind to its start, and the caller's stream must survive both.
    /// </summary>
    internal sealed class Borrowed(Stream inner) : Stream
    {
        private readonly long _origin = inner.Position;

        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => false;
        public override long Length => inner.Length - _origin;
        public override long Position { get => inner.Position - _origin; set => inner.Position = _origin + value; }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override long Seek(long offset, SeekOrigin origin) =>
            inner.Seek(origin == SeekOrigin.Begin ? _origin + offset : offset, origin) - _origin;
        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
