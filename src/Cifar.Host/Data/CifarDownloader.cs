using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace Cifar.Host.Data;

/// <summary>A download that failed or did not check out; the message says why, on one line.</summary>
internal sealed class DownloadError : Exception
{
    public DownloadError(string message) : base(message) { }
}

/// <summary>
/// Downloads the official <c>cifar-10-binary.tar.gz</c>, checks its MD5 and unpacks it into the data
/// root as <c>cifar-10-batches-bin/</c>. Nothing half-done is left behind: the archive is streamed to a
/// temporary file, checked, unpacked into a temporary folder and only then renamed into place.
/// </summary>
internal sealed class CifarDownloader
{
    public const string FolderName = "cifar-10-batches-bin";
    private readonly HttpClient _http;
    private readonly ILogger _log;

    public CifarDownloader(HttpClient http, ILogger<CifarDownloader> log)
    {
        _http = http;
        _log = log;
    }

    public async Task DownloadAsync(string url, string expectedMd5, string root, TextWriter progress, CancellationToken cancellation)
    {
        Directory.CreateDirectory(root);
        var archive = Path.Combine(root, $".download-{Guid.NewGuid():N}.tar.gz.partial");
        var unpacked = Path.Combine(root, $".unpack-{Guid.NewGuid():N}");
        try
        {
            progress.WriteLine($"downloading {url}");
            var md5 = await FetchAsync(url, archive, cancellation);
            if (!md5.Equals(expectedMd5, StringComparison.OrdinalIgnoreCase))
                throw new DownloadError($"{url}: MD5 {md5} does not match the expected {expectedMd5.ToLowerInvariant()}; the file was discarded");
            Unpack(url, archive, unpacked);
            var batches = Directory.GetDirectories(unpacked, FolderName, SearchOption.AllDirectories).FirstOrDefault()
                ?? throw new DownloadError($"{url}: the archive has no {FolderName}/ folder");
            var target = Path.Combine(root, FolderName);
            if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
            Directory.Move(batches, target);
            _log.LogInformation("Downloaded {Url} (MD5 {Md5}) into {Target}", url, md5, target);
            progress.WriteLine($"unpacked into {target}");
        }
        finally
        {
            if (File.Exists(archive)) File.Delete(archive);
            if (Directory.Exists(unpacked)) Directory.Delete(unpacked, recursive: true);
        }
    }

    private async Task<string> FetchAsync(string url, string path, CancellationToken cancellation)
    {
        long received = 0;
        long? expected = null;
        try
        {
            using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellation);
            if (!response.IsSuccessStatusCode)
                throw new DownloadError($"{url}: the server answered {(int)response.StatusCode} {response.ReasonPhrase}");
            expected = response.Content.Headers.ContentLength;
            using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            await using var source = await response.Content.ReadAsStreamAsync(cancellation);
            await using var file = File.Create(path);
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await source.ReadAsync(buffer, cancellation)) > 0)
            {
                md5.AppendData(buffer, 0, read);
                await file.WriteAsync(buffer.AsMemory(0, read), cancellation);
                received += read;
            }
            if (expected is { } length && received != length)
                throw new DownloadError($"{url}: the connection ended after {received} of {length} bytes");
            return Convert.ToHexStringLower(md5.GetHashAndReset());
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new DownloadError($"{url}: the download timed out after {received} bytes");
        }
        catch (Exception e) when (e is HttpRequestException or IOException && e is not DownloadError)
        {
            var cut = expected is { } total ? $" after {received} of {total} bytes" : received > 0 ? $" after {received} bytes" : "";
            throw new DownloadError($"{url}: the download failed{cut} ({e.GetBaseException().Message})");
        }
    }

    private static void Unpack(string url, string archive, string folder)
    {
        Directory.CreateDirectory(folder);
        try
        {
            using var file = File.OpenRead(archive);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            TarFile.ExtractToDirectory(gzip, folder, overwriteFiles: false);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException)
        {
            throw new DownloadError($"{url}: the archive could not be unpacked ({e.Message})");
        }
    }
}
