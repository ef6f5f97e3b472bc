using Microsoft.ML.Data;

namespace Cifar.MLNet;

/// <summary>The colours a model reads from an image.</summary>
public enum ColorMode
{
    /// <summary>Red, green and blue planes: 3 channels.</summary>
    Rgb,

    /// <summary>One grey plane (ML.NET's ConvertToGrayscale): 1 channel. For grey data such as MNIST, and colour images read as grey.</summary>
    Grayscale,
}

/// <summary>
/// The images a model takes: every image is stretched to <see cref="Width"/> × <see cref="Height"/> (ML.NET
/// ResizeImages, Fill: the aspect ratio is not kept, nothing is cropped or padded; an image of that size is used as it
/// is) and read as <see cref="Colors"/>, channels first. The default is CIFAR-10's: 32 × 32 RGB.
/// </summary>
/// <param name="Width">Width in pixels, 1 to <see cref="MaxSide"/>.</param>
/// <param name="Height">Height in pixels, 1 to <see cref="MaxSide"/>.</param>
/// <param name="Colors">RGB (3 channels) or grey (1).</param>
public sealed record ImageFormat(int Width = CifarImage.Width, int Height = CifarImage.Height, ColorMode Colors = ColorMode.Rgb)
{
    /// <summary>The longest side accepted: a model's input is held per image in memory as floats.</summary>
    public const int MaxSide = 1024;

    /// <summary>CIFAR-10's images: 32 × 32 RGB.</summary>
    public static ImageFormat Cifar { get; } = new();

    /// <summary>Channels: 3 for RGB, 1 for grey.</summary>
    public int Channels => Colors == ColorMode.Grayscale ? 1 : 3;

    /// <summary>Values per image: channels × height × width.</summary>
    public int Size => Channels * Height * Width;

    /// <summary>[channels, height, width], as networks and checkpoints record it.</summary>
    public int[] Shape => [Channels, Height, Width];

    /// <summary>The pixels column's type: channels × height × width floats, as ML.NET's ExtractPixels declares it.</summary>
    public VectorDataViewType PixelsType => new(NumberDataViewType.Single, Channels, Height, Width);

    /// <summary>"28x28 grey", "32x32 RGB": how messages and the app name it.</summary>
    public override string ToString() => $"{Width}x{Height} {(Colors == ColorMode.Grayscale ? "grey" : "RGB")}";

    /// <summary>Checks the sizes; keys under <paramref name="section"/> name them (<c>Data:ImageWidth</c>).</summary>
    /// <exception cref="OptionsException">A side is out of range.</exception>
    public void Validate(string section = "") => new OptionChecks(section)
        .Check(Width is >= 1 and <= MaxSide, "ImageWidth", $"must be 1 to {MaxSide} pixels", Width)
        .Check(Height is >= 1 and <= MaxSide, "ImageHeight", $"must be 1 to {MaxSide} pixels", Height)
        .Check(Enum.IsDefined(Colors), "ColorMode", "must be Rgb or Grayscale", Colors);

    /// <summary>
    /// The format a column's type declares: a float vector with dimensions [channels, height, width] and 1 or 3 channels
    /// (ExtractPixels with planar order declares them); null for any other type.
    /// </summary>
    public static ImageFormat? Of(DataViewType type) =>
        type is VectorDataViewType { Dimensions: [var c and (1 or 3), var h, var w] } v && v.ItemType == NumberDataViewType.Single
            ? new ImageFormat(w, h, c == 1 ? ColorMode.Grayscale : ColorMode.Rgb)
            : null;
}
