using System.Security.Cryptography;
using System.Text.Json;
using Cifar.Host.Artifacts;
using Cifar.MLNet.Prediction;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cifar.Host.Serving;

/// <summary>
/// The model <c>serve</c> serves, loaded from its zip file and predicting on <see cref="CifarModel"/>'s pooled engines;
/// registered with <see cref="ModelPoolServices.AddCifarModel"/>. A watched file that is replaced (as <c>train</c> replaces model.zip: a new file renamed over the
/// old) is loaded beside the old model; requests that start afterwards get the new one, and the old one
/// is disposed once the last request holding it is done, so no request fails during the swap. That disposal runs on a
/// background thread (<see cref="ModelRetirement"/>), not on the request that let go last; disposing the pool waits
/// for it. A replacement that does not load is logged and the model in service stays.
/// </summary>
internal sealed class CifarModelPool : IDisposable
{
    private readonly WatchedModel _model;
    private readonly ModelRetirement _retirement;

    internal CifarModelPool(ModelSource source, ILoggerFactory logging)
    {
        var log = logging.CreateLogger<CifarModelPool>();
        _retirement = new ModelRetirement(log);
        try
        {
            _model = new WatchedModel(source, log, _retirement);
        }
        catch
        {
            _retirement.Dispose();
            throw;
        }
    }

    /// <summary>Completes once every model replaced so far is disposed (for tests).</summary>
    internal Task RetirementsDone => _retirement.Idle;

    /// <summary>
    /// Borrows the model's current version; dispose the lease when done. Until then that version
    /// stays loaded even if a newer one replaces it.
    /// </summary>
    public ModelLease Borrow() => _model.Borrow();

    /// <summary>Loads the model's file again now, as the watcher does when it changes.</summary>
    /// <returns>Whether a new version (other bytes) was put in service.</returns>
    public bool Reload() => _model.Reload();

    /// <summary>
    /// Stops watching, gives up the models in service and waits until every model no request holds is disposed, so that
    /// none is disposed after the app (and its ONNX Runtime) is gone.
    /// </summary>
    public void Dispose()
    {
        try
        {
            _model.Dispose();
        }
        finally
        {
            _retirement.Dispose(); // waits for the retirements under way, whatever failed above
        }
    }

    private sealed class WatchedModel : IDisposable
    {
        private readonly ModelSource _source;
        private readonly ILogger _log;
        private readonly ModelRetirement _retirement;
        private readonly FileSystemWatcher? _watcher;
        private readonly Timer _debounce;
        private readonly object _reloading = new();
        private LoadedModel _current;
        private volatile bool _disposed;

        public WatchedModel(ModelSource source, ILogger log, ModelRetirement retirement)
        {
            _source = source;
            _log = log;
            _retirement = retirement;
            _current = LoadedModel.Read(source.Path, retirement)!; // a model that does not load stops the start-up
            _debounce = new Timer(_ => ReloadLogged());
            if (!source.WatchForChanges) return;
            var full = System.IO.Path.GetFullPath(source.Path);
            // The folder is watched, not the file: train replaces the file by renaming another over it.
            _watcher = new FileSystemWatcher(System.IO.Path.GetDirectoryName(full)!) { IncludeSubdirectories = false };
            var fileName = System.IO.Path.GetFileName(full);
            void OnEvent(string? name)
            {
                if (string.Equals(name, fileName, StringComparison.Ordinal)) ScheduleReload();
            }
            _watcher.Changed += (_, e) => OnEvent(e.Name);
            _watcher.Created += (_, e) => OnEvent(e.Name);
            _watcher.Renamed += (_, e) => OnEvent(e.Name);
            _watcher.Error += (_, e) =>
            {
                // Events were lost (the watcher's buffer overflowed, say): the file may have changed unseen, so look again.
                _log.LogWarning("{Path}: the file watcher reported an error, loading the file again ({Message})", _source.Path, e.GetException().Message);
                ScheduleReload();
            };
            _watcher.EnableRaisingEvents = true;
        }

        public ModelLease Borrow()
        {
            while (true)
            {
                ObjectDisposedException.ThrowIf(_disposed, typeof(CifarModelPool));
                var current = Volatile.Read(ref _current);
                if (current.TryAcquire()) return new ModelLease(current);
                // That version was retired between the read and the acquire: the next read finds its successor.
            }
        }

        /// <summary>Loads the file once its events have settled (a write may come in several).</summary>
        private void ScheduleReload()
        {
            // Watcher events run on their own thread and may come after Dispose: an exception there would end the process.
            if (_disposed) return;
            try
            {
                _debounce.Change(TimeSpan.FromMilliseconds(200), Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // Disposed between the check and the call: nothing to reload.
            }
        }

        /// <summary>The watcher's reload, on a timer thread: whatever goes wrong is logged, never thrown (that would end the process).</summary>
        private void ReloadLogged()
        {
            try
            {
                if (Reload()) _log.LogInformation("{Path}: new model in service (SHA-256 {Sha256})", _source.Path, Volatile.Read(ref _current).Sha256);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Any failure to load (a file being written, not a model, a model ML.NET or ONNX Runtime refuses in a way
                // not foreseen) leaves the model in service; only running out of memory is left to end the process.
                _log.LogWarning("{Path}: the new file was not loaded, the previous model stays in service ({Message})",
                    _source.Path, e is IOException or UnauthorizedAccessException or InvalidDataException
                        ? ErrorText.FirstLine(e.Message)
                        : $"{e.GetType().Name}: {ErrorText.FirstLine(e.Message)}");
            }
        }

        public bool Reload()
        {
            lock (_reloading)
            {
                if (_disposed) return false;
                // The same bytes (a touch, or a copy of the model in service) build no second session.
                var next = LoadedModel.Read(_source.Path, _retirement, unless: _current.Sha256);
                if (next is null) return false;
                var previous = Interlocked.Exchange(ref _current, next);
                previous.Release(); // retired now, or when the last request still holding it is done
                return true;
            }
        }

        public void Dispose()
        {
            lock (_reloading)
            {
                if (_disposed) return;
                _disposed = true;
                _watcher?.Dispose();
                _debounce.Dispose();
                _current.Release();
            }
        }
    }

    /// <summary>One version of a model file: its bytes' hash and the model loaded from those very bytes, reference-counted.</summary>
    internal sealed class LoadedModel
    {
        private int _references = 1; // the pool's own, given up when a newer version replaces this one
        private readonly ModelRetirement _retirement;
        private readonly string _path;

        private LoadedModel(CifarModel model, string sha256, DateTimeOffset loadedAt, JsonElement? trainingConfig,
            ModelRetirement retirement, string path)
        {
            _retirement = retirement;
            _path = path;
            Model = model;
            Sha256 = sha256;
            LoadedAt = loadedAt;
            TrainingConfig = trainingConfig;
        }

        public CifarModel Model { get; }
        public string Sha256 { get; }
        public DateTimeOffset LoadedAt { get; }
        public JsonElement? TrainingConfig { get; }

        /// <summary>Loads the file, or returns null when its bytes hash to <paramref name="unless"/> (that version is in service).</summary>
        public static LoadedModel? Read(string path, ModelRetirement retirement, string? unless = null)
        {
            MLNet.Data.ImageFiles.RequireReadableFile(path, "model file");
            // Read once: the hash and the model come from the same bytes even if the file is replaced meanwhile.
            var bytes = File.ReadAllBytes(path);
            var sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));
            if (sha256 == unless) return null;
            // The run's config is read now, with the model: a new train into the same folder rewrites config.json at its
            // start, long before its model replaces this one.
            var config = JsonFiles.TryRead(RunLayout.OfModel(path).Config)
                ?.Deserialize<JsonElement>();
            var model = CifarModel.Load(new MemoryStream(bytes, writable: false), path);
            return new LoadedModel(model, sha256, DateTimeOffset.UtcNow, config, retirement, path);
        }

        public bool TryAcquire()
        {
            int seen;
            do
            {
                seen = Volatile.Read(ref _references);
                if (seen == 0) return false;
            }
            while (Interlocked.CompareExchange(ref _references, seen + 1, seen) != seen);
            return true;
        }

        /// <summary>Gives up one reference; the last hands the model to the retirement, off the calling (request) thread.</summary>
        public void Release()
        {
            if (Interlocked.Decrement(ref _references) == 0) _retirement.Retire(Model, $"{_path} (SHA-256 {Sha256})");
        }
    }
}

/// <summary>A borrowed version of a model: use <see cref="Model"/> until disposed.</summary>
internal sealed class ModelLease : IDisposable
{
    private CifarModelPool.LoadedModel? _loaded;

    internal ModelLease(CifarModelPool.LoadedModel loaded) => _loaded = loaded;

    private CifarModelPool.LoadedModel Loaded => _loaded ?? throw new ObjectDisposedException(nameof(ModelLease));

    /// <summary>The model.</summary>
    public CifarModel Model => Loaded.Model;

    /// <summary>SHA-256 of the zip's bytes this version was loaded from, lower-case hex.</summary>
    public string Sha256 => Loaded.Sha256;

    /// <summary>When this version was loaded.</summary>
    public DateTimeOffset LoadedAt => Loaded.LoadedAt;

    /// <summary>The run's config.json beside the zip as it was when this version was loaded, or null when there was none.</summary>
    public JsonElement? TrainingConfig => Loaded.TrainingConfig;

    /// <inheritdoc />
    public void Dispose() => Interlocked.Exchange(ref _loaded, null)?.Release();
}

/// <summary>The model file served.</summary>
internal sealed record ModelSource(string Path, bool WatchForChanges);

/// <summary>Registers <see cref="CifarModelPool"/>.</summary>
internal static class ModelPoolServices
{
    /// <summary>
    /// Serves the model in <paramref name="filePath"/> (a singleton pool, disposed with the container); with
    /// <paramref name="watchForChanges"/>, a replaced file is loaded and put in service.
    /// </summary>
    public static IServiceCollection AddCifarModel(this IServiceCollection services, string filePath, bool watchForChanges) =>
        services.AddSingleton(provider => new CifarModelPool(new ModelSource(filePath, watchForChanges), provider.GetRequiredService<ILoggerFactory>()));
}
