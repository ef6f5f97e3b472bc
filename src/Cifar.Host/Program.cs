using System.Runtime.InteropServices;
using Cifar.Host;

// Ctrl+C and SIGTERM stop training between batches; what is finished stays saved.
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    Console.Error.WriteLine("stopping after the current batch…");
    stop.Cancel();
};
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});
return await CifarApp.RunAsync(args, Console.Out, Console.Error, interactive: !Console.IsOutputRedirected, stop.Token);
