using System.Runtime.InteropServices;
using Cifar.Host;
using Cifar.MLNet;
using Cifar.MLNet.Prediction;

// Training on the CPU: glibc's heap set up from the process's first allocation (one heap for all threads, freed buffers
// kept; docs/performance.md). The process starts again in place with it, once, before it does anything.
if (args is ["train", ..]) TorchRuntime.RestartWithTrainingHeap();

// Before any model is trained or loaded: ONNX Runtime's telemetry would leave a file in the temp folder per run.
OnnxRuntimeTelemetry.Disable();

// Ctrl+C and SIGTERM stop training between batches (what is finished stays saved), evaluate between images, predict
// between files, serve after its requests.
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    Console.Error.WriteLine("stopping…");
    stop.Cancel();
};
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});
return await CifarApp.RunAsync(args, Console.Out, Console.Error, interactive: !Console.IsOutputRedirected, stop.Token);
