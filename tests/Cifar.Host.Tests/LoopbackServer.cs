using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Cifar.Host.Tests;

/// <summary>
/// A one-file HTTP server on 127.0.0.1 for download tests: serves <c>body</c> whole, cut off halfway
/// (the Content-Length promises more than is sent), or answers 404. It serves a bounded number of
/// requests and stops with the test.
/// </summary>
public sealed class LoopbackServer : IDisposable
{
    public enum Behaviour { Whole, CutHalfway, NotFound }

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public LoopbackServer(byte[] body, Behaviour behaviour)
    {
        _listener.Start();
        Url = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/cifar-10-binary.tar.gz";
        _loop = Task.Run(() => ServeAsync(body, behaviour));
    }

    public string Url { get; }

    private async Task ServeAsync(byte[] body, Behaviour behaviour)
    {
        for (int served = 0; served < 8 && !_stop.IsCancellationRequested; served++)
        {
            using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            await using var stream = client.GetStream();
            var request = new StringBuilder();
            var buffer = new byte[1024];
            while (!request.ToString().Contains("\r\n\r\n"))
            {
                int read = await stream.ReadAsync(buffer, _stop.Token);
                if (read == 0) break;
                request.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
            if (behaviour == Behaviour.NotFound)
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), _stop.Token);
                continue;
            }
            var header = $"HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(header), _stop.Token);
            int length = behaviour == Behaviour.CutHalfway ? body.Length / 2 : body.Length;
            await stream.WriteAsync(body.AsMemory(0, length), _stop.Token);
            await stream.FlushAsync(_stop.Token);
            client.Client.Shutdown(SocketShutdown.Both);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _stop.Dispose();
    }
}
