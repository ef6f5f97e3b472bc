using System.Globalization;
using Cifar.Host.Cli;
using Cifar.Host.Configuration;
using Cifar.MLNet.Data;
using Microsoft.ML;

namespace Cifar.Host.Data;

/// <summary>What <c>train</c> trains and validates on, and how the root held it.</summary>
/// <param name="Train">Training rows.</param>
/// <param name="Validation">Validation rows, the same label keys.</param>
/// <param name="Classes">The class names, in key order.</param>
/// <param name="Layout">How the root holds the data, for the <c>data:</c> line.</param>
/// <param name="IgnoredFiles">Files in class folders that are not images.</param>
internal sealed record DataSplits(IDataView Train, IDataView Validation, IReadOnlyList<string> Classes, string Layout, int IgnoredFiles);

/// <summary>Finds the data root: Data:Root, else $CIFAR10_DATA, else data/cifar10.</summary>
internal static class DataLocator
{
    public const string DefaultRoot = "data/cifar10";

    public static string Resolve(string? configured) =>
        !string.IsNullOrWhiteSpace(configured) ? configured
        : Environment.GetEnvironmentVariable("CIFAR10_DATA") is { Length: > 0 } fromEnvironment ? fromEnvironment
        : DefaultRoot;

    /// <summary>Whether <paramref name="root"/> holds training data in any layout.</summary>
    public static bool HasTrainingData(string root) =>
        ImageFolderData.FindLayout(root) is not null || BinaryBatchDataset.FindFolder(root) is not null;

    /// <summary>
    /// Loads a split, turning data problems into one-line user errors. Of a root of class folders, the test split is
    /// the held-out part and the train split the rest, split as <c>train</c> splits it by default
    /// (<see cref="ImageFolderOptions.DefaultValidationFraction"/>, Data:SplitSeed 1).
    /// </summary>
    public static IDataView Load(MLContext ml, string root, CifarSplit split, int limit) => AsUserError(root, () =>
    {
        if (ImageFolderData.FindLayout(root) != ImageFolderLayout.ClassFolders || BinaryBatchDataset.FindFolder(root) is not null)
            return CifarDataLoader.Load(ml, root, split, limit);
        var parts = ImageFolderData.Load(ml, root, new ImageFolderOptions { TrainLimit = limit, ValidationLimit = limit });
        return split == CifarSplit.Test ? parts.Validation : parts.Train;
    });

    /// <summary>
    /// Training and validation data, whichever layout the root has: train/ and test/ folders, the binary batches,
    /// or one folder of class folders split by Data:ValidationFraction (checked in that order, as the binary
    /// batches' own folder would otherwise pass for a class).
    /// </summary>
    public static DataSplits LoadSplits(MLContext ml, string root, DataConfig data) => AsUserError(root, () =>
    {
        var layout = ImageFolderData.FindLayout(root);
        if (layout != ImageFolderLayout.TrainAndTest && BinaryBatchDataset.FindFolder(root) is not null)
        {
            if (data.ValidationFraction is not null)
                throw new UserError($"{root}: Data:ValidationFraction splits a root of class folders, but this one has the CIFAR-10 binary batches (their test batch validates); leave it out");
            if (data.ImageFormat() != Cifar.MLNet.ImageFormat.Cifar)
                throw new UserError($"{root}: the CIFAR-10 binary batches hold 32x32 RGB pixels, not {data.ImageFormat()}: leave out Data:ImageSize and Data:ColorMode, or use image folders");
            var train = CifarDataLoader.Load(ml, root, CifarSplit.Train, data.TrainLimit);
            return new DataSplits(train, CifarDataLoader.Load(ml, root, CifarSplit.Test, data.ValidationLimit),
                CifarDataLoader.ClassNames(train), "CIFAR-10 binary batches", 0);
        }
        if (layout is null && Directory.Exists(root))
            throw new UserError($"{root}: no data (expected <root>/<class>/*, <root>/{{train,test}}/<class>/*, or the CIFAR-10 binary batches)");
        var splits = ImageFolderData.Load(ml, root, data);
        return new DataSplits(splits.Train, splits.Validation, splits.ClassNames, Describe(splits), splits.IgnoredFiles);
    });

    private static string Describe(ImageFolderSplits splits) => splits.Layout == ImageFolderLayout.TrainAndTest
        ? "train/ and test/ folders"
        : string.Create(CultureInfo.InvariantCulture,
            $"one folder of class folders, split by Data:ValidationFraction {splits.ValidationFraction} and Data:SplitSeed {splits.SplitSeed}");

    private static T AsUserError<T>(string root, Func<T> load)
    {
        try
        {
            return load();
        }
        catch (CifarDataException e)
        {
            // Where to point instead, when nothing is there (a file in its place is named as one by the message).
            bool nothingThere = !Directory.Exists(root) && !File.Exists(root);
            throw new UserError(e.Message + (nothingThere ? " (set Data:Root or CIFAR10_DATA, or Data:Download=true)" : ""), e);
        }
    }
}
