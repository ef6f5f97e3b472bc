using Cifar.Host.Cli;

namespace Cifar.Host.Artifacts;

/// <summary>
/// A run's output folder, held for the run: one run at a time writes into it (a second is refused while the first
/// holds the lock), and it never tells two stories: a fresh run first removes the files of the run before it (a
/// resumed run removes the model and final evaluation once it has resumed; see TrainCommand), so a failed or stopped
/// run leaves no model beside metrics it did not produce. Its files are <see cref="RunLayout"/>'s.
/// </summary>
internal sealed class RunFolder : IDisposable
{
    private readonly FileStream _lock;

    private RunFolder(FileStream held) => _lock = held;

    /// <summary>Creates (when needed) and locks the run's folder; for a fresh run, removes the previous run's files.</summary>
    /// <param name="run">The output folder.</param>
    /// <param name="resume">A resumed run keeps everything: it continues those files.</param>
    /// <exception cref="UserError">The folder cannot be written, or another run holds it.</exception>
    public static RunFolder Open(RunLayout run, bool resume)
    {
        var path = run.Folder;
        FileStream held;
        try
        {
            if (File.Exists(path)) throw new UserError($"{path}: is a file, not a folder");
            Directory.CreateDirectory(path);
            // FileShare.None is an exclusive advisory lock between .NET processes; the file goes when the run ends.
            held = new FileStream(run.PathOf(RunLayout.LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None,
                bufferSize: 1, FileOptions.DeleteOnClose);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException && IsHeldByAnother(e))
        {
            throw new UserError($"{path}: another cifar train is writing into this folder; wait for it or choose another --output", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserError($"{path}: output folder cannot be written ({e.Message})", e);
        }
        var folder = new RunFolder(held);
        try
        {
            // A folder where the run writes a file would fail only when that file is written, with .NET's wording.
            if (RunLayout.Files.FirstOrDefault(name => Directory.Exists(run.PathOf(name))) is { } taken)
                throw new UserError($"{run.PathOf(taken)}: is a folder, where the run writes its {taken}; remove it or choose another --output");
            if (!resume) foreach (var name in RunLayout.Files) File.Delete(run.PathOf(name));
        }
        catch (UserError)
        {
            folder.Dispose();
            throw;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            folder.Dispose();
            throw new UserError($"{path}: the previous run's files cannot be removed ({e.Message})", e);
        }
        return folder;
    }

    // .NET reports a lock held elsewhere as an IOException with EWOULDBLOCK / sharing-violation HResult.
    private static bool IsHeldByAnother(IOException e) => e.HResult is 11 or 35 or 32 or unchecked((int)0x80070020);

    public void Dispose() => _lock.Dispose();
}
