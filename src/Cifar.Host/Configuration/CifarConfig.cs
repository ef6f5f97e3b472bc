namespace Cifar.Host.Configuration;

/// <summary>A run's configuration, bound from JSON files, environment variables and the command line.</summary>
public sealed class CifarConfig
{
    public DataConfig Data { get; set; } = new();
    public ModelConfig Model { get; set; } = new();
    public TrainingConfig Training { get; set; } = new();
    public NormalizationConfig Normalization { get; set; } = new();
    public AugmentationConfig Augmentation { get; set; } = new();
    public TorchConfig Torch { get; set; } = new();
}

public sealed class TorchConfig
{
    /// <summary>
    /// A folder holding libtorch.so to train with instead of the one the app carries, e.g. a PyTorch
    /// install's torch/lib (a CUDA build for the GPU); needs an app built with -p:TorchBackend=none. Null = the carried one.
    /// </summary>
    public string? LibraryPath { get; set; }
}

public sealed class DataConfig
{
    /// <summary>Data root; null = $CIFAR10_DATA, else data/cifar10.</summary>
    public string? Root { get; set; }
    /// <summary>Training images, class-balanced; 0 = all.</summary>
    public int TrainLimit { get; set; }
    /// <summary>Validation (test split) images, class-balanced; 0 = all.</summary>
    public int ValidationLimit { get; set; }
    /// <summary>Skip and count images that cannot be decoded instead of stopping on the first one.</summary>
    public bool SkipBadImages { get; set; }
    /// <summary>Download the official binary release when the root has no data.</summary>
    public bool Download { get; set; }
    /// <summary>Where to download from.</summary>
    public string DownloadUrl { get; set; } = CifarDownloadDefaults.Url;
    /// <summary>The archive's expected MD5, lowercase hex.</summary>
    public string DownloadMd5 { get; set; } = CifarDownloadDefaults.Md5;
}

public static class CifarDownloadDefaults
{
    public const string Url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
    public const string Md5 = "c32a1d4ab5d03f1284b67883e8d87530";
}

public sealed class ModelConfig
{
    public string Architecture { get; set; } = "SeedCnn";
}

public sealed class TrainingConfig
{
    public int Epochs { get; set; } = 15;
    public int BatchSize { get; set; } = 32;
    public string Optimizer { get; set; } = "Adam";
    public double LearningRate { get; set; } = 0.001;
    public double WeightDecay { get; set; } = 0.0005;
    public bool Shuffle { get; set; } = true;
    public int Seed { get; set; } = 1;
    public string Device { get; set; } = "auto";
    /// <summary>Flush denormal numbers to zero while training on the CPU (see CifarCnnOptions.FlushDenormals).</summary>
    public bool FlushDenormals { get; set; } = true;
}

public sealed class NormalizationConfig
{
    // Empty until bound: the configuration binder appends to an existing array instead of replacing it.
    // The tutorial's 0.5 / 0.5 come from ConfigLoader's bottom configuration layer.
    public float[] Mean { get; set; } = [];
    public float[] Std { get; set; } = [];
    public static readonly float[] TutorialValue = [0.5f, 0.5f, 0.5f];
}

public sealed class AugmentationConfig
{
    /// <summary>RandomHorizontalFlip on or off.</summary>
    public bool HorizontalFlip { get; set; }
    /// <summary>RandomHorizontalFlip's p when on (torchvision's default 0.5).</summary>
    public double HorizontalFlipProbability { get; set; } = 0.5;
    public double RotationDegrees { get; set; }
    public ColorJitterConfig ColorJitter { get; set; } = new();
}

public sealed class ColorJitterConfig
{
    public double Brightness { get; set; }
    public double Contrast { get; set; }
    public double Saturation { get; set; }
    public double Hue { get; set; }
}
