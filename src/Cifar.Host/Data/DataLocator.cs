using Cifar.Host.Cli;
using Cifar.MLNet.Data;
using Microsoft.ML;

namespace Cifar.Host.Data;

/// <summary>Finds the data root: Data:Root, else $CIFAR10_DATA, else data/cifar10.</summary>
internal static class DataLocator
{
    public const string DefaultRoot = "data/cifar10";

    public static string Resolve(string? configured) =>
        !string.IsNullOrWhiteSpace(configured) ? configured
        : Environment.GetEnvironmentVariable("CIFAR10_DATA") is { Length: > 0 } fromEnvironment ? fromEnvironment
        : DefaultRoot;

    /// <summary>Whether <paramref name="root"/> holds the split in either layout.</summary>
    public static bool HasData(string root, CifarSplit split) =>
        Directory.Exists(root) && (ImageFolderDataset.Exists(root, split) || BinaryBatchDataset.FindFolder(root) is not null);

    /// <summary>Loads a split, turning data problems into one-line user errors.</summary>
    public static Microsoft.ML.IDataView Load(Microsoft.ML.MLContext ml, string root, CifarSplit split, int limit)
    {
        try
        {
            return CifarDataLoader.Load(ml, root, split, limit);
        }
        catch (CifarDataException e)
        {
            // Where to point instead, when nothing is there (a file in its place is named as one by the message).
            bool nothingThere = !Directory.Exists(root) && !File.Exists(root);
            throw new UserError(e.Message + (nothingThere ? " (set Data:Root or CIFAR10_DATA, or Data:Download=true)" : ""), e);
        }
    }
}
