using System.Buffers;
using Cifar.Host.Cli;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Cifar.Host.Serving;

/// <summary>A request refused for what it sent: its status and the problem's detail.</summary>
internal sealed class UploadRefused(int status, string detail) : Exception(detail)
{
    public int Status { get; } = status;
}

/// <summary>One uploaded image.</summary>
/// <param name="Name">The name the client gave it (as sent: JSON escapes it once).</param>
/// <param name="Bytes">Its content, valid until the request's <see cref="Uploads"/> is disposed.</param>
internal sealed record Upload(string Name, ChunkedBytes Bytes);

/// <summary>
/// The images of one request, read as they stream in (multipart sections one by one, never the whole body at once)
/// into pooled buffers counted against <see cref="ServeSettings.MaxBufferedBytes"/>; disposing gives them back.
/// </summary>
internal sealed class Uploads : IDisposable
{
    /// <summary>RFC 2046's longest boundary (the multipart reader's buffer must hold one).</summary>
    private const int MaxBoundaryLength = 70;

    private readonly ServeSettings _settings;
    private readonly UploadBuffers _buffers;
    private readonly List<Upload> _images = [];

    private Uploads(ServeSettings settings, UploadBuffers buffers)
    {
        _settings = settings;
        _buffers = buffers;
    }

    /// <summary>The images in upload order.</summary>
    public IReadOnlyList<Upload> Images => _images;

    /// <summary>Reads the request's images: multipart/form-data files, or the raw body as one image.</summary>
    /// <exception cref="UploadRefused">The request breaks a limit or holds no image (its status and why).</exception>
    public static async Task<Uploads> ReadAsync(HttpRequest request, ServeSettings settings, UploadBuffers buffers, CancellationToken cancellation)
    {
        if (request.ContentLength > settings.MaxRequestBytes) throw RequestTooLarge(settings);
        var uploads = new Uploads(settings, buffers);
        try
        {
            var body = new LimitedStream(request.Body, settings.MaxRequestBytes, () => RequestTooLarge(settings));
            if (request.HasFormContentType) await uploads.ReadFormAsync(request, body, cancellation);
            else await uploads.ReadRawAsync(body, cancellation);
            return uploads;
        }
        catch
        {
            uploads.Dispose();
            throw;
        }
    }

    /// <summary>The answer for a body over <see cref="ServeSettings.MaxRequestBytes"/>.</summary>
    public static UploadRefused RequestTooLarge(ServeSettings settings) =>
        new(StatusCodes.Status413PayloadTooLarge, $"the request is larger than {settings.MaxRequestBytes} bytes");

    private async Task ReadRawAsync(Stream body, CancellationToken cancellation)
    {
        var (image, length) = await ReadImageAsync(body, cancellation);
        if (image is null) throw ImageTooLarge("body", length);
        _images.Add(new Upload("body", image));
        if (length == 0) throw new UploadRefused(StatusCodes.Status400BadRequest, "the request has no body: post images as multipart/form-data files, or one image as the body");
    }

    private async Task ReadFormAsync(HttpRequest request, Stream body, CancellationToken cancellation)
    {
        var boundary = HeaderUtilities.RemoveQuotes(MediaTypeHeaderValue.Parse(request.ContentType).Boundary).Value;
        if (string.IsNullOrEmpty(boundary)) throw Unreadable("its Content-Type names no boundary");
        if (boundary.Length > MaxBoundaryLength) throw Unreadable($"its boundary is longer than {MaxBoundaryLength} characters");
        var reader = new MultipartReader(boundary, body) { BodyLengthLimit = null }; // the whole body is limited instead
        int files = 0;
        UploadRefused? firstRefusal = null;
        try
        {
            while (await reader.ReadNextSectionAsync(cancellation) is { } section)
            {
                var name = FileName(section);
                if (name is not null) files++;
                // Past the first refusal, or for a field that is no file, the section is only counted and skipped.
                if (name is null || firstRefusal is not null || files > _settings.MaxImages)
                {
                    await SkipAsync(section.Body, cancellation);
                    continue;
                }
                firstRefusal = await AddImageAsync(name, section.Body, cancellation);
            }
        }
        catch (InvalidDataException e)
        {
            throw Unreadable(ErrorText.FirstLine(e.Message));
        }
        catch (IOException e) when (e is not BadHttpRequestException && !cancellation.IsCancellationRequested)
        {
            // Not the connection (that is a BadHttpRequestException or a cancellation): the reader's "unexpected end".
            throw Unreadable("it ends before its closing boundary (truncated, or not multipart/form-data)");
        }
        if (files > _settings.MaxImages)
            throw new UploadRefused(StatusCodes.Status400BadRequest, $"the request holds {files} files; at most {_settings.MaxImages} are accepted");
        if (firstRefusal is not null) throw firstRefusal;
        if (files == 0) throw new UploadRefused(StatusCodes.Status400BadRequest, "the form holds no files: add one or more images");
    }

    private async Task<UploadRefused?> AddImageAsync(string name, Stream section, CancellationToken cancellation)
    {
        var (image, length) = await ReadImageAsync(section, cancellation);
        var shown = TextEscaping.ControlCharacters(name);
        if (image is null) return ImageTooLarge(shown, length);
        _images.Add(new Upload(name, image)); // given back with the others
        return length == 0 ? new UploadRefused(StatusCodes.Status400BadRequest, $"{shown}: the file is empty") : null;
    }

    /// <summary>The file name a section carries (filename* decoded, a quoted filename unescaped), or null for a plain field.</summary>
    private static string? FileName(MultipartSection section)
    {
        if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.IsFileDisposition()) return null;
        if (!StringSegment.IsNullOrEmpty(disposition.FileNameStar)) return disposition.FileNameStar.Value;
        var name = HeaderUtilities.UnescapeAsQuotedString(disposition.FileName).Value;
        return string.IsNullOrEmpty(name) ? HeaderUtilities.UnescapeAsQuotedString(disposition.Name).Value ?? "" : name;
    }

    /// <summary>
    /// The stream's bytes in pooled chunks as they come; past <see cref="ServeSettings.MaxImageBytes"/> the chunks are
    /// given back (null) and the rest only counted, so that the refusal says how large the image was.
    /// </summary>
    private async Task<(ChunkedBytes? Image, long Length)> ReadImageAsync(Stream source, CancellationToken cancellation)
    {
        var image = new ChunkedBytes(_buffers);
        long length = 0;
        try
        {
            while (true)
            {
                int read;
                if (image is null) read = await SkipChunkAsync(source, cancellation);
                else
                {
                    read = await source.ReadAsync(image.Room() ?? throw Busy(), cancellation);
                    image.Advance(read);
                    if (image.Length > _settings.MaxImageBytes)
                    {
                        image.Dispose();
                        image = null;
                    }
                }
                if (read == 0) return (image, length);
                length += read;
            }
        }
        catch
        {
            image?.Dispose();
            throw;
        }
    }

    private UploadRefused Busy() => new(StatusCodes.Status503ServiceUnavailable,
        $"the server is busy: uploads in progress hold {_settings.MaxBufferedBytes} bytes; try again shortly");

    private static async Task<int> SkipChunkAsync(Stream source, CancellationToken cancellation)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(16 << 10);
        try
        {
            return await source.ReadAsync(scratch, cancellation);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private static async Task SkipAsync(Stream source, CancellationToken cancellation)
    {
        while (await SkipChunkAsync(source, cancellation) > 0) { }
    }

    private UploadRefused ImageTooLarge(string name, long length) =>
        new(StatusCodes.Status413PayloadTooLarge, $"{name}: {length} bytes; images of at most {_settings.MaxImageBytes} bytes are accepted");

    private static UploadRefused Unreadable(string why) =>
        new(StatusCodes.Status400BadRequest, $"the multipart body cannot be read ({why})");

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var image in _images) image.Bytes.Dispose();
        _images.Clear();
    }
}
