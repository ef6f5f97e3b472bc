using Cifar.Tests;

namespace Cifar.Host.Tests;

/// <summary>
/// One tiny <c>cifar train</c> run shared by the artifact, predict and evaluate tests: the binary
/// batch layout written by the test (10 classes, 100 training and 20 test images), 2 epochs on the CPU.
/// </summary>
public sealed class TrainRun : IDisposable
{
    public TestData.TempFolder Folder { get; } = new();
    public string DataRoot => Folder.File("data");
    public string Output => Folder.File("run");
    public HostRun.Result Result { get; }

    public TrainRun() : this(seed: 1) { }

    /// <summary>The same run with another <c>Training:Seed</c>: another model of the same shape.</summary>
    internal TrainRun(int seed)
    {
        TestImages.WriteBinaryBatches(DataRoot, recordsPerBatch: 20);
        File.WriteAllText(Folder.File("tiny.json"), """{ "Training": { "Epochs": 2, "BatchSize": 16, "Device": "cpu" } }""");
        Result = HostRun.Run("train", "--config", Folder.File("tiny.json"), "--output", Output, $"--Data:Root={DataRoot}", $"--Training:Seed={seed}");
    }

    public string Model => Path.Combine(Output, "model.zip");

    public void Dispose() => Folder.Dispose();
}
