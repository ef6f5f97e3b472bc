namespace Cifar.MLNet;

/// <summary>The column names the Cifar stages use by default.</summary>
public static class CifarColumns
{
    /// <summary>Path of an image file (text). The saved model's input.</summary>
    public const string ImagePath = "ImagePath";
    /// <summary>A decoded image (<see cref="Microsoft.ML.Data.MLImage"/>), inside the loading stage.</summary>
    public const string Image = "Image";
    /// <summary>Raw pixels, channels first (planar R, G, B), 0–255 floats, 3×32×32.</summary>
    public const string Pixels = "Pixels";
    /// <summary>Normalized pixels, channels first, 3072 floats: the network's input.</summary>
    public const string Features = "Features";
    /// <summary>The class, a key over the class names.</summary>
    public const string Label = "Label";
    /// <summary>Softmax probabilities, one per class, slot names = class names.</summary>
    public const string Score = "Score";
    /// <summary>The predicted class's name (text).</summary>
    public const string PredictedLabel = "PredictedLabel";
}

/// <summary>Image geometry of CIFAR-10.</summary>
internal static class CifarImage
{
    /// <summary>Colour channels (R, G, B).</summary>
    public const int Channels = 3;
    /// <summary>Height in pixels.</summary>
    public const int Height = 32;
    /// <summary>Width in pixels.</summary>
    public const int Width = 32;
    /// <summary>Values per image, channels first.</summary>
    public const int Size = Channels * Height * Width;
}
