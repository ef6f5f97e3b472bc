
namespace Cifar.Networks;

/// <summary>
/// The tutorial's network, layer for layer as its <c>nn.Sequential</c>:
/// three conv-ReLU-maxpool blocks (64, 128, 256 channels), a fourth conv-ReLU (128 channels),
/// then flatten and one linear layer to the class scores (logits).
/// </summary>
internal static class SeedCnn
{
    /// <summary>The architecture's name in configs.</summary>
    public const string Name = "SeedCnn";

    /// <summary>Trainable parameters of the 10-class network: 689,418.</summary>
    public const long ParameterCount10Classes = 689_418;

    /// <summary>
    /// The network as data. Its layer names are the tutorial's, so weights keep the names <c>conv1.weight</c> …
    /// <c>fc.bias</c> in checkpoints and exported graphs.
    /// </summary>
    public static NetworkDefinition Definition { get; } = new(Name,
    [
        new Conv2d(64, KernelSize: 5, Padding: 2) { Name = "conv1" },
        new Relu { Name = "relu1" },
        new MaxPool2d(2) { Name = "pool1" },
        new Conv2d(128, KernelSize: 3, Padding: 1) { Name = "conv2" },
        new Relu { Name = "relu2" },
        new MaxPool2d(2) { Name = "pool2" },
        new Conv2d(256, KernelSize: 3, Padding: 1) { Name = "conv3" },
        new Relu { Name = "relu3" },
        new MaxPool2d(2) { Name = "pool3" },
        new Conv2d(128, KernelSize: 3, Padding: 1) { Name = "conv4" },
        new Relu { Name = "relu4" },
        new Flatten { Name = "flatten" },
        new Linear { Name = "fc" },
    ]);
}
