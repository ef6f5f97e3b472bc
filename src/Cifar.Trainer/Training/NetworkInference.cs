using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>Class probabilities from a trained network, one image at a time, thread-safe.</summary>
internal sealed class NetworkInference
{
    private readonly Sequential _network;
    private readonly Device _device;
    private readonly long[] _imageShape;
    private readonly TestTimeAugmentation _testTime;
    private readonly object _gate = new();

    /// <summary>Wraps a trained network; images are [channels, height, width], channels first.</summary>
    public NetworkInference(Sequential network, Device device, TestTimeAugmentation testTime, int channels, int height, int width)
    {
        _network = network;
        _testTime = testTime;
        _device = device;
        _imageShape = new long[] { 1, channels, height, width };
    }

    /// <summary>Softmax probabilities for one normalized, channels-first image.</summary>
    public float[] Probabilities(float[] image)
    {
        // TorchSharp modules are not documented as safe for concurrent forward passes; ML.NET may
        // map rows on several threads, so calls are serialised.
        lock (_gate)
        {
            using var scope = NewDisposeScope();
            using var _ = inference_mode();
            var input = tensor(image, _imageShape).to(_device);
            var probabilities = nn.functional.softmax(TestTimeViews.Logits(_network, input, _testTime), 1);
            return probabilities.cpu().data<float>().ToArray();
        }
    }
}
