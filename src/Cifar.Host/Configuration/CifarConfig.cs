using Cifar.MLNet;

namespace Cifar.Host.Configuration;

/// <summary>
/// A run's configuration, bound from JSON files, environment variables and the command line. The recipe's sections
/// are the library's own option records (their defaults and rules live there); <c>Data</c> and <c>Torch</c> are the
/// app's.
/// </summary>
internal sealed record CifarConfig
{
    public DataConfig Data { get; init; } = new();
    public ModelOptions Model { get; init; } = new();
    public TrainingOptions Training { get; init; } = new();
    public PixelNormalization Normalization { get; init; } = PixelNormalization.Tutorial;
    public AugmentationOptions Augmentation { get; init; } = new();
    public TorchConfig Torch { get; init; } = new();

    /// <summary>The four recipe sections as the library's recipe (not a section of its own); set, it sets the four.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public CifarRecipe Recipe
    {
        get => new() { Model = Model, Training = Training, Normalization = Normalization, Augmentation = Augmentation };
        init => (Model, Training, Normalization, Augmentation) = (value.Model, value.Training, value.Normalization, value.Augmentation);
    }

    /// <summary>Checks every section with its own rules.</summary>
    /// <exception cref="OptionsException">The first value out of range, named by its key.</exception>
    public void Validate()
    {
        Data.Validate();
        Recipe.Validate();
        Normalization.ForChannels(Data.ImageFormat().Channels); // grey images take one mean and std, or three equal ones
    }
}

internal sealed record TorchConfig
{
    /// <summary>
    /// A folder holding libtorch.so to train with instead of the one the app carries, e.g. a PyTorch
    /// install's torch/lib (a CUDA build for the GPU); needs an app built with -p:TorchBackend=none. Null = the carried one.
    /// </summary>
    public string? LibraryPath { get; init; }
}

/// <summary>
/// The <c>Data</c> section: where the data is and what to do when it is missing or broken. Limits and the split of a
/// single folder of class folders are the library's <see cref="Cifar.MLNet.Data.ImageFolderOptions"/> (their keys are
/// in this section too).
/// </summary>
internal sealed record DataConfig : Cifar.MLNet.Data.ImageFolderOptions
{
    public const string DefaultDownloadUrl = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
    public const string DefaultDownloadMd5 = "c32a1d4ab5d03f1284b67883e8d87530";

    /// <summary>
    /// Data root; null = $CIFAR10_DATA, else data/cifar10. Image folders (<c>train/</c> and <c>test/</c>, or one folder
    /// of class folders) or the CIFAR-10 binary batches.
    /// </summary>
    public string? Root { get; init; }
    /// <summary>Skip and count images that cannot be decoded instead of stopping on the first one.</summary>
    public bool SkipBadImages { get; init; }
    /// <summary>Download the official binary release when the root has no data.</summary>
    public bool Download { get; init; }
    /// <summary>Where to download from.</summary>
    public string DownloadUrl { get; init; } = DefaultDownloadUrl;
    /// <summary>The archive's expected MD5, lowercase hex.</summary>
    public string DownloadMd5 { get; init; } = DefaultDownloadMd5;

    /// <summary>The side of the square images the model reads, in pixels: every image is stretched to it. Default 32 (CIFAR-10's).</summary>
    public int ImageSize { get; init; } = Cifar.MLNet.ImageFormat.Cifar.Width;
    /// <summary>The width the model reads, where it differs from <see cref="ImageSize"/>; null = ImageSize.</summary>
    public int? ImageWidth { get; init; }
    /// <summary>The height the model reads, where it differs from <see cref="ImageSize"/>; null = ImageSize.</summary>
    public int? ImageHeight { get; init; }
    /// <summary>The colours the model reads: Rgb (3 channels, default) or Grayscale (1).</summary>
    public ColorMode ColorMode { get; init; } = ColorMode.Rgb;

    /// <summary>The images the model reads, from <see cref="ImageSize"/>, <see cref="ImageWidth"/>, <see cref="ImageHeight"/> and <see cref="ColorMode"/>.</summary>
    public ImageFormat ImageFormat() => new(ImageWidth ?? ImageSize, ImageHeight ?? ImageSize, ColorMode);

    public override void Validate()
    {
        base.Validate();
        var keys = new OptionChecks(Section);
        try
        {
            ImageFormat().Validate(Section);
        }
        catch (OptionsException e) when (e.Key == keys.Key(nameof(ImageWidth)) && ImageWidth is null || e.Key == keys.Key(nameof(ImageHeight)) && ImageHeight is null)
        {
            // The format's rule, said of the key that gave the side.
            throw new OptionsException(keys.Key(nameof(ImageSize)), e.Rule, ImageSize);
        }
        keys
            .Check(DownloadMd5 is { Length: 32 } && DownloadMd5.All(Uri.IsHexDigit), nameof(DownloadMd5), "must be 32 hex digits", DownloadMd5)
            .Check(Uri.TryCreate(DownloadUrl, UriKind.Absolute, out var url) && url.Scheme is "http" or "https", nameof(DownloadUrl),
                "must be an http or https URL", DownloadUrl);
    }
}
