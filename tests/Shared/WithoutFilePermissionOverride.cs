using System.Runtime.InteropServices;

namespace Cifar.Tests;

/// <summary>
/// Runs code on a thread of its own that cannot bypass file permissions, even as root: the thread's effective
/// capabilities lose CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (Linux capabilities are per thread), so a file with mode
/// 000 is unreadable to it as to any other user. Tests of unreadable input run on CI, which is root, this way.
/// </summary>
public static class WithoutFilePermissionOverride
{
    private const uint CapabilityVersion3 = 0x20080522; // _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set
    private const uint DacOverride = 1u << 1, DacReadSearch = 1u << 2;

    [StructLayout(LayoutKind.Sequential)]
    private struct Header { public uint Version; public int Pid; }

    [StructLayout(LayoutKind.Sequential)]
    private struct Data { public uint Effective, Permitted, Inheritable; }

    [DllImport("libc", SetLastError = true)]
    private static extern int capget(ref Header header, [Out] Data[] data);

    [DllImport("libc", SetLastError = true)]
    private static extern int capset(ref Header header, [In] Data[] data);

    /// <summary>Runs <paramref name="action"/> on a new thread without the permission-override capabilities; rethrows what it throws.</summary>
    public static T Run<T>(Func<T> action)
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("per-thread capabilities are Linux's");
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                var header = new Header { Version = CapabilityVersion3, Pid = 0 }; // 0: this thread
                var caps = new Data[2];
                if (capget(ref header, caps) != 0) throw new InvalidOperationException($"capget failed (errno {Marshal.GetLastPInvokeError()})");
                var before = caps[0].Effective;
                caps[0].Effective &= ~(DacOverride | DacReadSearch);
                if (capset(ref header, caps) != 0) throw new InvalidOperationException($"capset failed (errno {Marshal.GetLastPInvokeError()})");
                try
                {
                    result = action();
                }
                finally
                {
                    caps[0].Effective = before; // the thread ends next; restored all the same
                    capset(ref header, caps);
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        return result;
    }
}
