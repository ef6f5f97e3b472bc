using TorchSharp.Modules;
using static TorchSharp.torch.nn;

namespace Cifar.Trainer.Networks;

/// <summary>
/// The tutorial's network, layer for layer as its <c>nn.Sequential</c>:
/// three conv-ReLU-maxpool blocks (64, 128, 256 channels), a fourth conv-ReLU (128 channels),
/// then flatten and one linear layer to the class scores (logits).
/// </summary>
public static class SeedCnn
{
    /// <summary>The architecture's name in configs.</summary>
    public const string Name = "SeedCnn";

    /// <summary>Trainable parameters of the 10-class network: 689,418.</summary>
    public const long ParameterCount10Classes = 689_418;

    /// <summary>Builds a freshly initialised SeedCnn for 3x32x32 inputs.</summary>
    /// <param name="classCount">Number of output classes (10 for CIFAR-10).</param>
    public static Sequential Create(int classCount = 10) => Sequential(
        ("conv1", Conv2d(3, 64, kernel_size: 5, padding: 2)),
        ("relu1", ReLU()),
        ("pool1", MaxPool2d(kernel_size: 2)),
        ("conv2", Conv2d(64, 128, kernel_size: 3, padding: 1)),
        ("relu2", ReLU()),
        ("pool2", MaxPool2d(kernel_size: 2)),
        ("conv3", Conv2d(128, 256, kernel_size: 3, padding: 1)),
        ("relu3", ReLU()),
        ("pool3", MaxPool2d(kernel_size: 2)),
        ("conv4", Conv2d(256, 128, kernel_size: 3, padding: 1)),
        ("relu4", ReLU()),
        ("flatten", Flatten()),
        ("fc", Linear(128 * 4 * 4, classCount)));
}
