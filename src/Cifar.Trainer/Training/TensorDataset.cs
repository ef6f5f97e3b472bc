using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// A labelled image set held as two tensors: images [N, 3, H, W] float32 (already normalized) and
/// labels [N] int64. The dataset owns both tensors.
/// </summary>
public sealed class TensorDataset : IDisposable
{
    /// <summary>Wraps existing tensors; the dataset takes ownership of them.</summary>
    public TensorDataset(Tensor images, Tensor labels)
    {
        if (images.dim() != 4) throw new ArgumentException("images must be [N, C, H, W]", nameof(images));
        if (labels.dim() != 1 || labels.shape[0] != images.shape[0])
            throw new ArgumentException("labels must be [N] with the images' N", nameof(labels));
        Images = images;
        Labels = labels;
    }

    /// <summary>Copies channels-first float images (N × C·H·W values) and labels into tensors.</summary>
    public static TensorDataset FromArrays(float[] images, long[] labels, int channels, int height, int width) =>
        new(tensor(images, new long[] { labels.Length, channels, height, width }), tensor(labels));

    /// <summary>Images, [N, C, H, W] float32.</summary>
    public Tensor Images { get; }

    /// <summary>Labels, [N] int64.</summary>
    public Tensor Labels { get; }

    /// <summary>Number of images.</summary>
    public long Count => Labels.shape[0];

    /// <summary>A copy of both tensors on <paramref name="device"/> (this instance when already there).</summary>
    public TensorDataset To(Device device) =>
        Images.device_type == device.type && Images.device_index == device.index
            ? this
            : new TensorDataset(Images.to(device), Labels.to(device));

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}
