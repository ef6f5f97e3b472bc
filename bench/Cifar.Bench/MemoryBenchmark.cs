using System.Diagnostics;
using TorchSharp;
using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Training;
using static TorchSharp.torch;

namespace Cifar.Bench;

/// <summary>
/// <c>memory [STEPS]</c>: trains SeedCnn on random tensors (batch 32, the tutorial's augmentation) for
/// STEPS steps (default 1,000), printing resident memory and libtorch's live tensor count every 100
/// steps: both must stay flat once the first steps have allocated what they keep.
/// </summary>
internal static class MemoryBenchmark
{
    public static int Run(int steps)
    {
        const int batch = 32, report = 100;
        // One "epoch" = 100 steps; memory is sampled between epochs.
        using var pixels = randint(0, 256, new long[] { report * batch, 3, 32, 32 });
        using var data = new TensorDataset(pixels.to(ScalarType.Byte), randint(0, 10, new long[] { report * batch }), PixelNormalization.Tutorial);
        var augmenter = new BatchAugmenter(AugmentationOptions.Tutorial);
        var process = Process.GetCurrentProcess();
        Console.WriteLine($"{Environment.MachineName}, {Environment.ProcessorCount} cores, libtorch threads {get_num_threads()}");
        Console.WriteLine("steps   RSS MiB   live tensors   images/s");
        var clock = Stopwatch.StartNew();
        int done = 0;
        var settings = new TrainingOptions { Epochs = steps / report, BatchSize = batch, Device = ComputeDevice.Cpu };
        using var trained = CnnTrainer.Train(data, null, 10, new TrainingRun { Training = settings }, augmenter, new TrainingCallbacks
        {
            EpochCompleted = _ =>
            {
                done += report;
                process.Refresh();
                Console.WriteLine($"{done,5}   {process.WorkingSet64 / (1024.0 * 1024),7:F0}   {DisposeScopeManager.Statistics.ThreadTotalLiveCount,12}   {done * batch / clock.Elapsed.TotalSeconds,8:F0}");
            },
        });
        process.Refresh();
        Console.WriteLine($"peak RSS {process.PeakWorkingSet64 / (1024.0 * 1024):F0} MiB");
        return 0;
    }
}
