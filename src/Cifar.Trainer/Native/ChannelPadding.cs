using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Native;

/// <summary>
/// The one place this library's networks convolve: libtorch's <c>conv2d</c>, with both channel counts padded with zeros
/// to multiples of <see cref="OneDnnIsa.ChannelMultiple"/> on the CPU where oneDNN needs it (processors that describe no
/// caches), and the output cut back to its filters (a channels-last one copied whole again). The zeros add nothing, so the values are the convolution's; autograd
/// takes the gradients through the padding, and every oneDNN kernel (forward, both gradients) sees whole vectors.
/// </summary>
internal static class ChannelPadding
{
    /// <summary><c>conv2d(input, weight, bias, stride, padding)</c>, padded where <see cref="OneDnnIsa.ChannelMultiple"/> says.</summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding) =>
        Conv2d(input, weight, bias, stride, padding, input.device_type == DeviceType.CPU ? OneDnnIsa.ChannelMultiple : 1);

    /// <summary>The same with the channel counts padded to multiples of <paramref name="multiple"/> (1: none).</summary>
    internal static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, int multiple)
    {
        long filters = weight.shape[0], channels = weight.shape[1];
        long extraFilters = Extra(filters, multiple), extraChannels = Extra(channels, multiple);
        if (extraFilters == 0 && extraChannels == 0) return nn.functional.conv2d(input, weight, bias, stride, padding);
        // F.pad's pairs run from the last dimension back: width, height, channels (, filters).
        var paddedInput = extraChannels == 0 ? input : nn.functional.pad(input, [0, 0, 0, 0, 0, extraChannels]);
        var paddedWeight = nn.functional.pad(weight, [0, 0, 0, 0, 0, extraChannels, 0, extraFilters]);
        var paddedBias = bias is null || extraFilters == 0 ? bias : nn.functional.pad(bias, [0, extraFilters]);
        var output = nn.functional.conv2d(paddedInput, paddedWeight, paddedBias, stride, padding);
        if (extraFilters == 0) return output;
        // Channels-last, the kept filters are a strided view that elementwise layers after it walk slowly: made whole again.
        var kept = output.narrow(1, 0, filters);
        return Cifar.Trainer.Training.ChannelsLast.Has(output) ? Cifar.Trainer.Training.ChannelsLast.Of(kept) : kept;
    }

    private static long Extra(long count, int multiple) => (multiple - count % multiple) % multiple;
}
