using System.Collections.Concurrent;

namespace Cifar.Tests;

/// <summary>Runs code on several threads of its own at once, for tests of thread safety.</summary>
public static class Concurrently
{
    /// <summary>Runs <paramref name="body"/>(i) for i in 0 … count − 1, each on its own thread; fails with every exception they raised.</summary>
    public static void Run(int count, Action<int> body)
    {
        var failures = new ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, count).Select(i => new Thread(() =>
        {
            try
            {
                body(i);
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        })).ToArray();
        foreach (var thread in threads) thread.Start();
        foreach (var thread in threads) thread.Join();
        Assert.Empty(failures);
    }
}
