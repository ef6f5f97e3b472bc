using System.Runtime.InteropServices;

namespace Cifar.Trainer.Native;

/// <summary>
/// Sets a variable in the process's native environment, which libtorch and ONNX Runtime read, and in .NET's copy of it,
/// which the processes .NET starts inherit. (On Unix .NET's copy does not reach native code; on Windows it is the
/// process's own.)
/// </summary>
internal static class NativeEnvironment
{
    /// <summary>
    /// Sets <paramref name="name"/> to <paramref name="value"/>, or, without <paramref name="overwrite"/>, only where it is
    /// not set; returns whether the variable is set now. False where the C library offers no <c>setenv</c> or refuses.
    /// </summary>
    public static bool Set(string name, string value, bool overwrite = true)
    {
        if (!overwrite && Environment.GetEnvironmentVariable(name) is not null) return true;
        if (!OperatingSystem.IsWindows())
        {
            try
            {
                if (setenv(name, value, overwrite ? 1 : 0) != 0) return false;
            }
            catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
            {
                return false;
            }
        }
        Environment.SetEnvironmentVariable(name, value);
        return true;
    }

    /// <summary>Removes <paramref name="name"/> from both environments (where the C library offers <c>unsetenv</c>).</summary>
    public static void Remove(string name)
    {
        if (!OperatingSystem.IsWindows())
        {
            try
            {
                _ = unsetenv(name);
            }
            catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { }
        }
        Environment.SetEnvironmentVariable(name, null);
    }

    [DllImport("libc", EntryPoint = "unsetenv", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int unsetenv(string name);

    [DllImport("libc", EntryPoint = "setenv", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);
}
