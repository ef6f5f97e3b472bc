using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Training;

/// <summary>
/// The views of <see cref="TestTimeAugmentation"/> and their weights, computed as one batch: [x, flip x] for
/// <see cref="TestTimeAugmentation.Mirror"/>, plus [t₁, flip t₁, t₂, flip t₂] (one-pixel translations, reflect-padded)
/// for <see cref="TestTimeAugmentation.MirrorTranslate"/>. The ONNX export builds the same views in its graph.
/// </summary>
internal static class TestTimeViews
{
    /// <summary>Each view's weight in the averaged logits, in view order.</summary>
    public static float[] Weights(TestTimeAugmentation kind) => kind switch
    {
        TestTimeAugmentation.Mirror => [0.5f, 0.5f],
        TestTimeAugmentation.MirrorTranslate => [0.25f, 0.25f, 0.125f, 0.125f, 0.125f, 0.125f],
        _ => [1f],
    };

    /// <summary>The weighted mean of <paramref name="network"/>'s logits over the views of <paramref name="images"/> [N, C, H, W].</summary>
    public static Tensor Logits(nn.Module<Tensor, Tensor> network, Tensor images, TestTimeAugmentation kind)
    {
        if (kind == TestTimeAugmentation.None) return network.forward(images);
        using var scope = NewDisposeScope();
        var views = new List<Tensor> { images, images.flip(3) };
        if (kind == TestTimeAugmentation.MirrorTranslate)
        {
            long h = images.shape[2], w = images.shape[3];
            var padded = nn.functional.pad(images, [1, 1, 1, 1], PaddingModes.Reflect);
            var upLeft = padded.narrow(2, 0, h).narrow(3, 0, w);
            var downRight = padded.narrow(2, 2, h).narrow(3, 2, w);
            views.AddRange([upLeft, upLeft.flip(3), downRight, downRight.flip(3)]);
        }
        var weights = Weights(kind);
        long n = images.shape[0];
        var logits = network.forward(cat(views)).view(weights.Length, n, -1);
        var weighted = logits * tensor(weights, device: images.device).view(-1, 1, 1);
        return weighted.sum(new long[] { 0 }).MoveToOuterDisposeScope(); // not sum(0): a literal 0 converts to a ScalarType
    }
}
