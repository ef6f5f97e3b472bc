using System.Runtime.InteropServices;

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
    public static bool Disable()
    {
        if (OperatingSystem.IsWindows())
        {
            Environment.SetEnvironmentVariable(Variable, Environment.GetEnvironmentVariable(Variable) ?? "1");
            return true;
        }
        try
        {
            return setenv(Variable, "1", overwrite: 0) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);
}
