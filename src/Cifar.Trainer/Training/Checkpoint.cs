using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Cifar.Networks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// Everything needed to continue a run exactly where an epoch ended: the weights, the optimizer's
/// state, both random generators (shuffling and augmentation), the epoch and the history, plus the
/// settings it was made with. One file, written atomically (temporary file, then rename), so a crash
/// at any moment leaves the previous complete checkpoint.
/// </summary>
internal static class Checkpoint
{
    // Format 3 records the normalization (format 2 did not, so a resume could not tell the weights' data apart);
    // format 2 replaced TorchSharp's Adam state dictionary by the optimizer's own state.
    internal const string Magic = "CIFAR-CHECKPOINT-3";
    private static readonly string[] OlderMagics = { "CIFAR-CHECKPOINT-1", "CIFAR-CHECKPOINT-2" };

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
            CheckFormat(reader, path, weightsOnly: false);
            var fingerprint = reader.ReadString();
            if (fingerprint != expected)
                throw new CheckpointException($"{path}: made with other settings: {FingerprintDifference.Describe(fingerprint, expected)}");
            int epoch = reader.ReadInt32();
            var history = JsonSerializer.Deserialize<List<EpochMetrics>>(reader.ReadString()) ?? new List<EpochMetrics>();
            SetState(shuffle, ReadGeneratorState(reader));
            SetState(augment, ReadGeneratorState(reader));
            network.load(reader);
            createOptimizer().Load(reader);
            return new State(epoch, history);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentException or JsonException or FormatException
                                  or System.Runtime.InteropServices.ExternalException)
        {
            throw new CheckpointException($"{path}: unreadable checkpoint ({ErrorText.FirstLine(e.Message)})");
        }
    }

    /// <summary>
    /// Opens <paramref name="path"/> positioned at the network's weights (TorchSharp's state-dict format), past the
    /// header, the history and the generators; the settings are not compared.
    /// </summary>
    /// <exception cref="CheckpointException">The file is not a current Cifar checkpoint.</exception>
    public static BinaryReader OpenAtWeights(string path)
    {
        var reader = new BinaryReader(File.OpenRead(path));
        try
        {
            CheckFormat(reader, path, weightsOnly: true);
            reader.ReadString(); // fingerprint
            reader.ReadInt32(); // epoch
            reader.ReadString(); // history
            ReadGeneratorState(reader); // shuffling
            ReadGeneratorState(reader); // augmentation
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>
    /// What must match for a resumed run to continue the same run: every option that changes what it computes
    /// (<see cref="TrainingOptions.ResultDefining"/>, with the precision the passes have on <paramref name="device"/>: <c>Auto</c>
    /// and the type it stands for there are one), the network, the normalization, the data's size and classes and the augmentation.
    /// </summary>
    public static string Fingerprint(TrainingRun run, int classCount, TensorDataset train, AugmentationOptions? augmentation, DeviceType device)
    {
        var settings = new
        {
            network = run.Model.Definition, classCount, trainImages = train.Count,
            training = run.Training.ResultDefining with
            {
                Precision = run.Training.PrecisionOn(device), ConvolutionInputGradient = run.Training.InputGradientOn(device),
            },
            normalization = train.Normalization, augmentation,
        };
        // The image shape is recorded only where it is not CIFAR's 3×32×32, and the features' statistics only for float
        // features (no normalization says how they were made): checkpoints written before either could differ keep their
        // fingerprint, byte for byte, and still resume.
        if (train.ImageShape.SequenceEqual(NetworkDefinition.InputShape) && train.HoldsPixels) return JsonSerializer.Serialize(settings, FingerprintJson);
        var extended = JsonSerializer.SerializeToNode(settings, FingerprintJson)!;
        if (!train.ImageShape.SequenceEqual(NetworkDefinition.InputShape))
            extended["imageShape"] = JsonSerializer.SerializeToNode(train.ImageShape);
        if (!train.HoldsPixels) extended["features"] = JsonSerializer.SerializeToNode(FeatureStatistics(train));
        return extended.ToJsonString();
    }

    // Training:Muon is recorded only where Muon steps, Training:ConvolutionInputGradient only where it is not libtorch's,
    // and Training:ValidationInterval never (it is not result-defining): runs that use neither keep the fingerprint they
    // had before those existed, byte for byte, and still resume.
    private static readonly JsonSerializerOptions FingerprintJson = new()
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver
        {
            Modifiers =
            {
                info =>
                {
                    if (info.Type != typeof(TrainingOptions)) return;
                    var muon = info.Properties.Single(p => p.Name == nameof(TrainingOptions.Muon));
                    muon.ShouldSerialize = (options, _) => ((TrainingOptions)options).Optimizer == OptimizerKind.Muon;
                    var inputGradient = info.Properties.Single(p => p.Name == nameof(TrainingOptions.ConvolutionInputGradient));
                    inputGradient.ShouldSerialize = (options, _) =>
                        ((TrainingOptions)options).ConvolutionInputGradient != ConvolutionInputGradient.Libtorch;
                    info.Properties.Remove(info.Properties.Single(p => p.Name == nameof(TrainingOptions.ValidationInterval)));
                },
            },
        },
    };

    /// <summary>
    /// Per channel, the mean and standard deviation of float features, in float64 and to 6 significant digits: another
    /// featurization (another scale, say) changes them, so a resume on it is refused.
    /// </summary>
    private static double[][] FeatureStatistics(TensorDataset train)
    {
        using var scope = torch.NewDisposeScope();
        var values = train.Images.to(torch.ScalarType.Float64).transpose(0, 1).reshape(train.ImageShape[0], -1);
        static double[] Rounded(torch.Tensor t) => t.cpu().data<double>().Select(v => double.Parse(v.ToString("G6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)).ToArray();
        return [Rounded(values.mean([1])), Rounded(values.std(1))];
    }

    private static void WriteGenerator(BinaryWriter writer, Generator generator)
    {
        using var state = generator.get_state();
        var bytes = state.data<byte>().ToArray();
        writer.Write(bytes.Length);
        writer.Write(bytes);
    }

    private static byte[] ReadGeneratorState(BinaryReader reader)
    {
        int length = reader.ReadInt32();
        // Checked against the file first: a corrupt length must not size an allocation.
        if (length < 0 || length > reader.BaseStream.Length - reader.BaseStream.Position)
            throw new EndOfStreamException("the file ends inside a generator state");
        return reader.ReadBytes(length);
    }

    private static void SetState(Generator generator, byte[] bytes)
    {
        using var state = tensor(bytes);
        generator.set_state(state);
    }

    /// <summary>
    /// Reads the magic string and refuses other formats. A resume needs format 3 (the one that records the
    /// normalization); reading only the weights (<paramref name="weightsOnly"/>) also takes format 2, which stores them alike.
    /// </summary>
    private static void CheckFormat(BinaryReader reader, string path, bool weightsOnly)
    {
        var magic = reader.ReadString();
        if (magic == Magic || (weightsOnly && magic == OlderMagics[1])) return;
        if (OlderMagics.Contains(magic))
            throw new CheckpointException($"{path}: written by an older Cifar (checkpoint format {magic[^1]}, which does not record the normalization); start the run again");
        throw new CheckpointException($"{path}: not a Cifar checkpoint");
    }
}
