using System.Runtime.InteropServices;
using Cifar.Host;
using Cifar.MLNet.Prediction;

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
