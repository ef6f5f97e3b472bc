using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>A checkpoint that cannot be used to resume; the message says why, on one line.</summary>
public sealed class CheckpointException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CheckpointException(string message) : base(message) { }
}

/// <summary>
/// Everything needed to continue a run exactly where an epoch ended: the weights, the optimizer's
/// state, both random generators (shuffling and augmentation), the epoch and the history, plus the
/// settings it was made with. One file, written atomically (temporary file, then rename), so a crash
/// at any moment leaves the previous complete checkpoint.
/// </summary>
internal static class Checkpoint
{
    // Format 2: the optimizer's own state (FlatAdam) replaced TorchSharp's Adam state dictionary.
    private const string Magic = "CIFAR-CHECKPOINT-2", OlderMagic = "CIFAR-CHECKPOINT-1";

    public sealed record State(int Epoch, List<EpochMetrics> History);

    public static void Save(string path, int epoch, IReadOnlyList<EpochMetrics> history, string fingerprint,
        Sequential network, IStepper optimizer, Generator shuffle, Generator augment)
    {
        AtomicFile.Write(path, file =>
        {
            using var writer = new BinaryWriter(file, System.Text.Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(fingerprint);
            writer.Write(epoch);
            writer.Write(JsonSerializer.Serialize(history));
            WriteGenerator(writer, shuffle);
            WriteGenerator(writer, augment);
            network.save(writer);
            optimizer.Save(writer);
            writer.Flush();
        });
    }

    /// <summary>
    /// Restores a run: the weights into <paramref name="network"/>, then the optimizer, which
    /// <paramref name="createOptimizer"/> makes only after the weights are in place.
    /// </summary>
    public static State Load(string path, string expected,
        Sequential network, Func<IStepper> createOptimizer, Generator shuffle, Generator augment)
    {
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path));
            var magic = reader.ReadString();
            if (magic == OlderMagic) throw new CheckpointException($"{path}: written by an older Cifar (checkpoint format 1); start the run again");
            if (magic != Magic) throw new CheckpointException($"{path}: not a Cifar checkpoint");
            var fingerprint = reader.ReadString();
            if (!SameSettings(fingerprint, expected))
                throw new CheckpointException($"{path}: made with other settings ({fingerprint}); this run has ({expected})");
            int epoch = reader.ReadInt32();
            var history = JsonSerializer.Deserialize<List<EpochMetrics>>(reader.ReadString()) ?? new List<EpochMetrics>();
            ReadGenerator(reader, shuffle);
            ReadGenerator(reader, augment);
            network.load(reader);
            createOptimizer().Load(reader);
            return new State(epoch, history);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentException or JsonException or FormatException
                                  or System.Runtime.InteropServices.ExternalException)
        {
            throw new CheckpointException($"{path}: unreadable checkpoint ({e.Message.Split('\n')[0]})");
        }
    }

    /// <summary>
    /// What must match for a resumed run to continue the same run: the settings (Epochs may grow),
    /// denormal flushing included, the data's size and classes, and the augmentation.
    /// </summary>
    public static string Fingerprint(TrainingSettings s, int classCount, long trainImages, object? augmentation) =>
        JsonSerializer.Serialize(new
        {
            s.Architecture, classCount, trainImages, s.BatchSize, s.Optimizer, s.LearningRate, s.WeightDecay, s.Shuffle, s.Seed,
            s.FlushDenormals, augmentation,
        });

    /// <summary>
    /// Whether two fingerprints describe the same run. Checkpoints written before
    /// <see cref="TrainingSettings.FlushDenormals"/> existed lack it: they resume with this run's setting, so a run
    /// that slowed down for want of it can continue with it.
    /// </summary>
    private static bool SameSettings(string stored, string expected)
    {
        if (stored == expected) return true;
        const string key = nameof(TrainingSettings.FlushDenormals);
        try
        {
            if (JsonNode.Parse(stored) is not JsonObject old || JsonNode.Parse(expected) is not JsonObject now || old.ContainsKey(key))
                return false;
            old[key] = now[key]?.DeepClone();
            return JsonNode.DeepEquals(old, now);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static void WriteGenerator(BinaryWriter writer, Generator generator)
    {
        using var state = generator.get_state();
        var bytes = state.data<byte>().ToArray();
        writer.Write(bytes.Length);
        writer.Write(bytes);
    }

    private static void ReadGenerator(BinaryReader reader, Generator generator)
    {
        int length = reader.ReadInt32();
        var bytes = reader.ReadBytes(length);
        if (bytes.Length != length) throw new EndOfStreamException("the file ends inside a generator state");
        using var state = tensor(bytes);
        generator.set_state(state);
    }
}
