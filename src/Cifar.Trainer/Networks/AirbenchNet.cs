
namespace Cifar.Networks;

/// <summary>
/// The network of the fast recipe, as airbench94 defines it (public repository KellerJordan/cifar10-airbench):
/// a fixed 2×2 patch-whitening convolution (24 filters) and GELU, then three blocks of
/// conv → max-pool → BatchNorm → GELU → conv → BatchNorm → GELU (64, 256, 256 channels; 3×3 convolutions without
/// bias that start as the identity; BatchNorm with a fixed scale of 1, momentum 0.4, ε 1e-12), a 3×3 max-pool,
/// and a linear head without bias scaled by 1/9.
/// </summary>
internal static class AirbenchNet
{
    /// <summary>The architecture's name in configs.</summary>
    public const string Name = "AirbenchNet";

    /// <summary>
    /// Parameters of the 10-class network, frozen ones included (as <c>sum(p.numel() for p in model.parameters())</c>
    /// counts them for the reference): whitening 24·3·2·2 + 24 = 312; block 1: 64·24·9 + 2·64 + 64·64·9 + 2·64 =
    /// 50,944; block 2: 256·64·9 + 512 + 256·256·9 + 512 = 738,304; block 3: 2·(256·256·9 + 512) = 1,180,672;
    /// head 256·10 = 2,560. Total 1,972,792.
    /// </summary>
    public const long ParameterCount10Classes = 1_972_792;

    private static IEnumerable<Layer> Block(int index, int channels)
    {
        // PyTorch's BatchNorm momentum is the weight of the new batch: airbench's 0.6 "momentum" is 1 − 0.4.
        const double momentum = 0.4, epsilon = 1e-12;
        yield return new Conv2d(channels, KernelSize: 3, Padding: 1, Bias: false, IdentityInit: true) { Name = $"block{index}_conv1" };
        yield return new MaxPool2d(2) { Name = $"block{index}_pool" };
        yield return new BatchNorm2d(momentum, epsilon, TrainScale: false) { Name = $"block{index}_norm1" };
        yield return new Gelu { Name = $"block{index}_gelu1" };
        yield return new Conv2d(channels, KernelSize: 3, Padding: 1, Bias: false, IdentityInit: true) { Name = $"block{index}_conv2" };
        yield return new BatchNorm2d(momentum, epsilon, TrainScale: false) { Name = $"block{index}_norm2" };
        yield return new Gelu { Name = $"block{index}_gelu2" };
    }

    /// <summary>The network as data (its layer names are its weights' names in checkpoints and exported graphs).</summary>
    public static NetworkDefinition Definition { get; } = new(Name,
    [
        new PatchWhitening(KernelSize: 2, Epsilon: 5e-4, InitImages: 5000, BiasEpochs: 3) { Name = "whiten" },
        new Gelu { Name = "whiten_gelu" },
        .. Block(1, 64),
        .. Block(2, 256),
        .. Block(3, 256),
        new MaxPool2d(3) { Name = "pool" },
        new Flatten { Name = "flatten" },
        new Linear(Bias: false) { Name = "head" },
        new Scale(1.0 / 9) { Name = "head_scale" },
    ]);
}
