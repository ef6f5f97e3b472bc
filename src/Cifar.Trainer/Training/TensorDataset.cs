using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// A labelled image set held as tensors on one device: labels [N] int64 and images [N, C, H, W], either as the
/// decoder's 0–255 uint8 pixels with the <see cref="PixelNormalization"/> applied batch by batch on the device (so a
/// GPU receives the whole set once, as bytes: a quarter of float32), or as float32 features used as they are (a
/// plain ML.NET featurization: its scaling is the model's). The dataset owns its tensors.
/// </summary>
internal sealed class TensorDataset : IDisposable
{
    // normalized = pixel · scale + offset per channel, [1, C, 1, 1] float32: the normalization stage's own
    // arithmetic, so training sees the very features the pipeline produces. Null for float32 features.
    private readonly Tensor? _scale, _offset;

    /// <summary>
    /// Wraps images [N, C, H, W] and labels [N]; the dataset takes ownership of both. The images are uint8 pixels
    /// (0–255) normalized by <paramref name="normalization"/>, or float32 features (with no normalization) used as they are.
    /// </summary>
    /// <param name="images">The images, uint8 pixels or float32 features.</param>
    /// <param name="labels">The labels, int64.</param>
    /// <param name="normalization">How uint8 pixels are normalized, one mean and std per channel; null for float32 features.</param>
    public TensorDataset(Tensor images, Tensor labels, PixelNormalization? normalization)
    {
        if (images.dim() != 4) throw new ArgumentException("images must be [N, C, H, W]", nameof(images));
        if (labels.dim() != 1 || labels.shape[0] != images.shape[0])
            throw new ArgumentException("labels must be [N] with the images' N", nameof(labels));
        Images = images;
        Labels = labels;
        Normalization = normalization;
        if (normalization is null)
        {
            if (images.dtype != ScalarType.Float32) throw new ArgumentException("features without a normalization must be float32", nameof(images));
            return;
        }
        if (images.dtype != ScalarType.Byte) throw new ArgumentException("images with a normalization must be uint8 pixels", nameof(images));
        long channels = images.shape[1];
        if (normalization.Mean.Count != channels)
            throw new ArgumentException($"the normalization has {normalization.Mean.Count} channels, the images {channels}", nameof(normalization));
        var (scale, offset) = normalization.ScaleAndOffset();
        _scale = tensor(scale, device: images.device).view(1, channels, 1, 1);
        _offset = tensor(offset, device: images.device).view(1, channels, 1, 1);
    }

    /// <summary>Whether the images are 0–255 pixels (uint8, normalized per batch) rather than float32 features used as they are.</summary>
    public bool HoldsPixels => Normalization is not null;

    /// <summary>One image's shape, [C, H, W]: the input the network is built for.</summary>
    public IReadOnlyList<int> ImageShape => [(int)Images.shape[1], (int)Images.shape[2], (int)Images.shape[3]];

    /// <summary>Copies channels-first 0–255 pixels (N × C·H·W bytes) and labels into tensors.</summary>
    public static TensorDataset FromArrays(byte[] pixels, long[] labels, int channels, int height, int width,
        PixelNormalization normalization) =>
        new(tensor(pixels, new long[] { labels.Length, channels, height, width }), tensor(labels), normalization);

    /// <summary>Copies channels-first float32 features (N × C·H·W values, used as they are) and labels into tensors.</summary>
    public static TensorDataset FromFeatures(float[] features, long[] labels, int channels, int height, int width) =>
        new(tensor(features, new long[] { labels.Length, channels, height, width }), tensor(labels), null);

    /// <summary>The images [N, C, H, W]: uint8 pixels, or float32 features.</summary>
    public Tensor Images { get; }

    /// <summary>How <see cref="Images"/> are normalized for the network; null for float32 features, used as they are.</summary>
    public PixelNormalization? Normalization { get; }

    /// <summary>Labels, [N] int64.</summary>
    public Tensor Labels { get; }

    /// <summary>Number of images.</summary>
    public long Count => Labels.shape[0];

    /// <summary>Normalized float32 images at <paramref name="indices"/> [B] (a new tensor).</summary>
    public Tensor Normalized(Tensor indices) => Only(() => Normalize(Images.index_select(0, indices)));

    /// <summary>Normalized float32 images <paramref name="start"/> .. start + length − 1.</summary>
    public Tensor Normalized(long start, long length) => Only(() => Normalize(Images.narrow(0, start, length)));

    /// <summary>
    /// The images at <paramref name="indices"/> in augmentation's space: float32 pixels in [0, 1], or the features
    /// themselves (which only geometric augmentation may change).
    /// </summary>
    public Tensor Pixels(Tensor indices) =>
        Only(() => HoldsPixels ? Images.index_select(0, indices).to(ScalarType.Float32).div_(255) : Images.index_select(0, indices));

    /// <summary>Normalizes what <see cref="Pixels"/> gives, after augmentation (features pass as they are).</summary>
    public Tensor NormalizePixels(Tensor pixels) => Only(() => HoldsPixels ? pixels * 255 * _scale! + _offset! : pixels.alias());

    // Features are copied, never aliased: a caller may change a batch in place.
    private Tensor Normalize(Tensor images) => HoldsPixels ? images.to(ScalarType.Float32) * _scale! + _offset! : images.clone();

    /// <summary>The result alone: the steps' intermediate tensors are freed now, whether or not the caller has a dispose scope.</summary>
    private static Tensor Only(Func<Tensor> compute)
    {
        using var scope = NewDisposeScope();
        return compute().MoveToOuterDisposeScope();
    }

    /// <summary>A copy of both tensors on <paramref name="device"/> (this instance when already there).</summary>
    public TensorDataset To(Device device) =>
        Images.device_type == device.type && Images.device_index == device.index
            ? this
            : new TensorDataset(Images.to(device), Labels.to(device), Normalization);

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
        _scale?.Dispose();
        _offset?.Dispose();
    }
}
