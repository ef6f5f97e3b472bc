using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Transforms.Onnx;

namespace Cifar.MLNet.Stages;

/// <summary>
/// Keeps alive the ONNX Runtime session options with which ML.NET creates its sessions, so that a garbage collection during
/// a session's creation cannot free them under ONNX Runtime.
/// </summary>
/// <remarks>
/// ML.NET's ONNX transformer (fitting <c>ApplyOnnxModel</c>, loading a zip) creates each session with a new
/// <see cref="SessionOptions"/> it keeps no reference to, and ONNX Runtime 1.30's <see cref="InferenceSession"/> passes only
/// the options' native handle to its native constructor. Once that call has begun the options are garbage: a collection
/// in those milliseconds finalizes them, their native memory is freed while ONNX Runtime still reads it, and the process
/// dies of SIGSEGV (in libonnxruntime.so, reading the options' execution providers). Seen on CI as a rare crash after
/// training; reproduced on every try within seconds by a thread collecting in a loop with optimized code and freed memory
/// overwritten (<c>DOTNET_TieredCompilation=0 MALLOC_PERTURB_=165</c>). ML.NET's own hook, a context's
/// <see cref="OnnxSessionOptions.CreateSessionOptions"/>, lets it take options made here and held by the context instead;
/// ONNX Runtime copies what it needs from them into each session, so one set serves every session of the context.
/// </remarks>
internal static class OnnxSessionOptionsKeeper
{
    // ML.NET keeps a context's options in a plain dictionary: two threads keeping one context must not write it at once.
    private static readonly Lock Writing = new();

    /// <summary>
    /// Makes <paramref name="ml"/> create its ONNX sessions with one set of options that lives as long as it does, with the
    /// settings it would use anyway (ML.NET's defaults are ONNX Runtime's). The context then also ignores a GPU device or
    /// thread counts given to one ONNX transform. A context whose owner set its ONNX session options is left as it is, and
    /// so is one with a GPU device (ML.NET would ignore the device): both stay exposed to the crash.
    /// </summary>
    /// <returns><paramref name="ml"/>.</returns>
    public static MLContext Keep(MLContext ml)
    {
        ArgumentNullException.ThrowIfNull(ml);
        lock (Writing)
        {
            if (ml.GetOnnxSessionOption() is not null || ml.GpuDeviceId is not null) return ml;
            var options = new Lazy<SessionOptions>(() => new SessionOptions()); // made with the first session, not before
            ml.SetOnnxSessionOption(new OnnxSessionOptions { CreateSessionOptions = () => options.Value });
            return ml;
        }
    }
}
