using Cifar.Trainer.Augmentation;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// A labelled image set held as tensors on one device: labels [N] int64 and images [N, C, H, W],
/// stored either as normalized float32 or, four times smaller, as 0–255 uint8 pixels with their
/// <see cref="PixelNormalization"/>, normalized batch by batch (on the device, so a GPU receives the
/// whole set once as bytes). The dataset owns its tensors.
/// </summary>
public sealed class TensorDataset : IDisposable
{
    // For pixel storage: normalized = pixel · scale + offset per channel, [1, C, 1, 1] float32,
    // the normalization stage's own arithmetic so both give the same features.
    private readonly Tensor? _scale, _offset;

    /// <summary>Wraps normalized float images [N, C, H, W] and labels [N]; the dataset takes ownership of them.</summary>
    public TensorDataset(Tensor images, Tensor labels) : this(images, labels, null)
    {
    }

    private TensorDataset(Tensor images, Tensor labels, PixelNormalization? normalization)
    {
        if (images.dim() != 4) throw new ArgumentException("images must be [N, C, H, W]", nameof(images));
        if (labels.dim() != 1 || labels.shape[0] != images.shape[0])
            throw new ArgumentException("labels must be [N] with the images' N", nameof(labels));
        Images = images;
        Labels = labels;
        PixelNormalization = normalization;
        if (normalization is null) return;
        if (images.dtype != ScalarType.Byte) throw new ArgumentException("pixel images must be uint8", nameof(images));
        var (scale, offset) = normalization.ScaleAndOffset();
        long channels = images.shape[1];
        _scale = tensor(scale, device: images.device).view(1, channels, 1, 1);
        _offset = tensor(offset, device: images.device).view(1, channels, 1, 1);
    }

    /// <summary>Wraps uint8 pixel images [N, C, H, W] (0–255) and labels [N], normalized on use with <paramref name="normalization"/>.</summary>
    public static TensorDataset FromPixels(Tensor pixels, Tensor labels, PixelNormalization normalization) =>
        new(pixels, labels, normalization);

    /// <summary>Copies channels-first float images (N × C·H·W values, normalized) and labels into tensors.</summary>
    public static TensorDataset FromArrays(float[] images, long[] labels, int channels, int height, int width) =>
        new(tensor(images, new long[] { labels.Length, channels, height, width }), tensor(labels));

    /// <summary>Copies channels-first 0–255 pixels (N × C·H·W bytes) and labels into tensors.</summary>
    public static TensorDataset FromPixelArrays(byte[] pixels, long[] labels, int channels, int height, int width,
        PixelNormalization normalization) =>
        new(tensor(pixels, new long[] { labels.Length, channels, height, width }), tensor(labels), normalization);

    /// <summary>The stored images: normalized float32, or uint8 pixels when <see cref="PixelNormalization"/> is set.</summary>
    public Tensor Images { get; }

    /// <summary>How uint8 <see cref="Images"/> are normalized; null when they are stored normalized.</summary>
    public PixelNormalization? PixelNormalization { get; }

    /// <summary>Labels, [N] int64.</summary>
    public Tensor Labels { get; }

    /// <summary>Number of images.</summary>
    public long Count => Labels.shape[0];

    /// <summary>Normalized float32 images at <paramref name="indices"/> [B] (a new tensor).</summary>
    public Tensor Normalized(Tensor indices) => Normalize(Images.index_select(0, indices));

    /// <summary>Normalized float32 images <paramref name="start"/> .. start + length − 1.</summary>
    public Tensor Normalized(long start, long length) => Normalize(Images.narrow(0, start, length));

    /// <summary>
    /// Float32 pixels in [0, 1] at <paramref name="indices"/> (augmentation's space), or null when the
    /// images are stored normalized.
    /// </summary>
    public Tensor? Pixels(Tensor indices) =>
        PixelNormalization is null ? null : Images.index_select(0, indices).to(ScalarType.Float32).div_(255);

    /// <summary>Normalizes float pixels in [0, 1] (what <see cref="Pixels"/> gives, after augmentation).</summary>
    public Tensor NormalizePixels(Tensor pixels) =>
        _scale is null ? throw new InvalidOperationException("the images are stored normalized")
            : pixels * 255 * _scale + _offset!;

    private Tensor Normalize(Tensor stored) =>
        _scale is null ? stored : stored.to(ScalarType.Float32) * _scale + _offset!;

    /// <summary>A copy of both tensors on <paramref name="device"/> (this instance when already there).</summary>
    public TensorDataset To(Device device) =>
        Images.device_type == device.type && Images.device_index == device.index
            ? this
            : new TensorDataset(Images.to(device), Labels.to(device), PixelNormalization);

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
        _scale?.Dispose();
        _offset?.Dispose();
    }
}
