using System.Runtime.InteropServices;

namespace Cifar.Trainer.Native;

/// <summary>
/// Sets a variable in the process's native environment, which libtorch reads, and in .NET's copy of it, which the
/// processes .NET starts inherit.
/// </summary>
internal static class NativeEnvironment
{
    /// <summary>Sets <paramref name="name"/> to <paramref name="value"/>; false where the C library offers no <c>setenv</c> or refuses.</summary>
    public static bool Set(string name, string value)
    {
        try
        {
            if (setenv(name, value, 1) != 0) return false;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
        Environment.SetEnvironmentVariable(name, value);
        return true;
    }

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int setenv(string name, string value, int overwrite);
}
