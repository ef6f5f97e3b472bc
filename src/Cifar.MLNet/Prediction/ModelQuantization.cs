namespace Cifar.MLNet.Prediction;

/// <summary>
/// How a quantized model zip was made (<see cref="Export.CifarQuantization"/>), as it records it: null on
/// <see cref="CifarModel.Quantization"/> for a float32 model.
/// </summary>
/// <param name="Precision">The convolutions' precision: <c>int8</c>.</param>
/// <param name="CalibrationImages">The images whose activations set the int8 ranges.</param>
/// <param name="SourceSha256">SHA-256 of the float32 zip it was made from.</param>
/// <param name="Float32Accuracy">The float32 model's accuracy (0–1) on the check images; null without a check.</param>
/// <param name="Int8Accuracy">This model's accuracy (0–1) on the same images; null without a check.</param>
/// <param name="CheckImages">The images both were scored on (0 without a check).</param>
public sealed record ModelQuantization(string Precision, int CalibrationImages, string SourceSha256, double? Float32Accuracy,
    double? Int8Accuracy, int CheckImages)
{
    /// <summary>
    /// The convolution weights' bits: 7 (±63, right on every processor) or 8 (±127, more exact; needs a processor whose
    /// ONNX Runtime kernels add in 32 bits: AVX-512 VNNI or AVX-VNNI on x86). Zips that record none have 7.
    /// </summary>
    public int WeightBits { get; init; } = 7;
}
