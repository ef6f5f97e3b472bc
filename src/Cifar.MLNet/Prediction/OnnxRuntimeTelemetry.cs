using Cifar.Trainer.Native;

namespace Cifar.MLNet.Prediction;

/// <summary>
/// ONNX Runtime's Linux build starts a telemetry system with its first session, which leaves a
/// <c>mat-debug-{pid}.log</c> (and a <c>.ses</c> file) in the temporary folder of every process
/// that scores a model. Setting <c>ORT_DISABLE_TELEMETRY</c> before that prevents it.
/// </summary>
public static class OnnxRuntimeTelemetry
{
    /// <summary>The variable ONNX Runtime reads.</summary>
    public const string Variable = "ORT_DISABLE_TELEMETRY";

    /// <summary>
    /// Sets <see cref="Variable"/> to 1 for this process unless it is already set, in the native
    /// environment that ONNX Runtime reads (.NET's own copy does not reach native code on Unix).
    /// Call it before the first model is loaded or trained; later it has no effect.
    /// </summary>
    /// <returns>Whether the variable is set now.</returns>
    public static bool Disable() => NativeEnvironment.Set(Variable, "1", overwrite: false);
}
