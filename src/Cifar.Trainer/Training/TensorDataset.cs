using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// A labelled image set held as tensors on one device: labels [N] int64 and images [N, C, H, W] as the
/// decoder's 0–255 uint8 pixels, with the <see cref="PixelNormalization"/> applied batch by batch on the
/// device (so a GPU receives the whole set once, as bytes: a quarter of float32). The dataset owns its tensors.
/// </summary>
public sealed class TensorDataset : IDisposable
{
    // normalized = pixel · scale + offset per channel, [1, C, 1, 1] float32: the normalization stage's own
    // arithmetic, so training sees the very features the pipeline produces.
    private readonly Tensor _scale, _offset;

    /// <summary>Wraps uint8 pixel images [N, C, H, W] (0–255) and labels [N]; the dataset takes ownership of both.</summary>
    /// <param name="pixels">The images, uint8.</param>
    /// <param name="labels">The labels, int64.</param>
    /// <param name="normalization">How batches are normalized; one mean and std per channel.</param>
    public TensorDataset(Tensor pixels, Tensor labels, PixelNormalization normalization)
    {
        if (pixels.dim() != 4) throw new ArgumentException("images must be [N, C, H, W]", nameof(pixels));
        if (pixels.dtype != ScalarType.Byte) throw new ArgumentException("images must be uint8 pixels", nameof(pixels));
        if (labels.dim() != 1 || labels.shape[0] != pixels.shape[0])
            throw new ArgumentException("labels must be [N] with the images' N", nameof(labels));
        long channels = pixels.shape[1];
        if (normalization.Mean.Count != channels)
            throw new ArgumentException($"the normalization has {normalization.Mean.Count} channels, the images {channels}", nameof(normalization));
        Images = pixels;
        Labels = labels;
        Normalization = normalization;
        var (scale, offset) = normalization.ScaleAndOffset();
        _scale = tensor(scale, device: pixels.device).view(1, channels, 1, 1);
        _offset = tensor(offset, device: pixels.device).view(1, channels, 1, 1);
    }

    /// <summary>One image's shape, [C, H, W]: the input the network is built for.</summary>
    public IReadOnlyList<int> ImageShape => [(int)Images.shape[1], (int)Images.shape[2], (int)Images.shape[3]];

    /// <summary>Copies channels-first 0–255 pixels (N × C·H·W bytes) and labels into tensors.</summary>
    public static TensorDataset FromArrays(byte[] pixels, long[] labels, int channels, int height, int width,
        PixelNormalization normalization) =>
        new(tensor(pixels, new long[] { labels.Length, channels, height, width }), tensor(labels), normalization);

    /// <summary>The images, uint8 pixels [N, C, H, W].</summary>
    public Tensor Images { get; }

    /// <summary>How <see cref="Images"/> are normalized for the network.</summary>
    public PixelNormalization Normalization { get; }

    /// <summary>Labels, [N] int64.</summary>
    public Tensor Labels { get; }

    /// <summary>Number of images.</summary>
    public long Count => Labels.shape[0];

    /// <summary>Normalized float32 images at <paramref name="indices"/> [B] (a new tensor).</summary>
    public Tensor Normalized(Tensor indices) => Only(() => Normalize(Images.index_select(0, indices)));

    /// <summary>Normalized float32 images <paramref name="start"/> .. start + length − 1.</summary>
    public Tensor Normalized(long start, long length) => Only(() => Normalize(Images.narrow(0, start, length)));

    /// <summary>Float32 pixels in [0, 1] at <paramref name="indices"/>: augmentation's space.</summary>
    public Tensor Pixels(Tensor indices) => Only(() => Images.index_select(0, indices).to(ScalarType.Float32).div_(255));

    /// <summary>Normalizes float pixels in [0, 1] (what <see cref="Pixels"/> gives, after augmentation).</summary>
    public Tensor NormalizePixels(Tensor pixels) => Only(() => pixels * 255 * _scale + _offset);

    private Tensor Normalize(Tensor pixels) => pixels.to(ScalarType.Float32) * _scale + _offset;

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
        _scale.Dispose();
        _offset.Dispose();
    }
}
