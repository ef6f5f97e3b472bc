using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;
using Cifar.Networks;
using Cifar.Trainer.Native;

namespace Cifar.Trainer.Training;

/// <summary>
/// <see cref="ConvolutionInputGradient.FlippedFilters"/>: a convolution's input gradient computed by libtorch's forward
/// kernel, as the output's gradient convolved with the filters transposed and flipped, while the filters' and the bias's
/// gradients stay libtorch's own.
/// </summary>
/// <remarks>
/// For stride 1 and no dilation, the gradient of <c>y = conv2d(x, w, padding p)</c> with respect to <c>x</c> is
/// <c>conv2d(dy, w', padding k − 1 − p)</c>, where <c>w'</c> swaps the filters' input and output channels and turns each
/// k×k window by 180°. oneDNN's backward-data kernels ran 1.3–2 × slower than its forward ones on AirbenchNet's layers
/// (docs/performance.md). The convolution itself still runs as the module's own, on its input detached, so libtorch's
/// backward computes only the filters' (and bias's) gradients; a custom autograd step placed after it passes the
/// output's gradient on unchanged and gives the input its gradient by the forward kernel. A layer after a hooked
/// convolution must not change its output in place (autograd refuses it; none of the layers does).
/// </remarks>
internal static class FlippedFilterGradient
{
    /// <summary>
    /// <see cref="TrainingOptions.ConvolutionInputGradient"/> as it applies on <paramref name="device"/>: on the CPU only (a
    /// GPU keeps cuDNN's backward kernels).
    /// </summary>
    public static ConvolutionInputGradient InputGradientOn(this TrainingOptions options, DeviceType device) =>
        device == DeviceType.CPU ? options.ConvolutionInputGradient : ConvolutionInputGradient.Libtorch;

    /// <summary>
    /// <see cref="Attach"/> where <paramref name="choice"/> is <see cref="ConvolutionInputGradient.FlippedFilters"/>; else
    /// null (nothing to undo).
    /// </summary>
    public static IDisposable? AttachFor(ConvolutionInputGradient choice, nn.Module network) =>
        choice == ConvolutionInputGradient.FlippedFilters ? Attach(network) : null;

    /// <summary>
    /// Hooks every eligible convolution of <paramref name="network"/> (itself, or any layer it holds, nested ones
    /// included) for as long as the returned handle lives; forward passes without gradients, and inputs that need none,
    /// run as before.
    /// </summary>
    public static IDisposable Attach(nn.Module network)
    {
        var handedOver = new HandedOver();
        var removers = new List<Action> { handedOver.Release };
        // The module itself too: TorchSharp's modules() lists only what it holds.
        var all = network.modules().Prepend(network).Distinct(ReferenceEqualityComparer.Instance).Cast<nn.Module>();
        foreach (var conv in all.OfType<Conv2dModule>().Where(Applies))
        {
            // The input whose gradient this step owes, between the module's two hooks (one forward at a time: training
            // runs on one thread).
            Tensor? pending = null;
            var before = conv.register_forward_pre_hook((_, input) =>
            {
                pending = input.requires_grad && is_grad_enabled() ? input : null;
                return pending is null ? input : input.detach();
            });
            var after = conv.register_forward_hook((_, _, output) =>
            {
                if (pending is not { } input) return output;
                pending = null;
                // TorchSharp keeps an empty tensor of the output's size for each custom step, to fill with zeros where a
                // gradient is missing; the step asks for none (set_materialize_grads(false)), so it goes with this scope.
                using var scope = NewDisposeScope();
                return InputGradientStep.apply(input, output, new Filters(conv.Weight, conv.Padding, handedOver)).MoveToOuterDisposeScope();
            });
            removers.Add(before.remove);
            removers.Add(after.remove);
        }
        return new HookRemoval(removers);
    }

    /// <summary>
    /// Whether <paramref name="conv"/>'s input gradient can be one forward convolution: stride 1 and zero padding of at
    /// most the kernel side − 1 (the layer has neither dilation nor groups).
    /// </summary>
    internal static bool Applies(Conv2dModule conv) =>
        conv.Stride.All(s => s == 1) && conv.Padding.All(p => p >= 0 && p < conv.KernelSize);

    /// <summary>
    /// The input gradient of a stride-1 convolution whose output's gradient is <paramref name="outputGradient"/>, by the
    /// forward kernel.
    /// </summary>
    internal static Tensor InputGradient(Tensor outputGradient, Tensor weight, long[] padding)
    {
        var flipped = weight.transpose(0, 1).flip(2, 3).contiguous();
        return ChannelPadding.Conv2d(outputGradient, flipped, null, [1, 1], [weight.shape[2] - 1 - padding[0], weight.shape[3] - 1 - padding[1]]);
    }

    // Not a tensor, so that the autograd step takes the filters along without making them one of its inputs: their
    // gradient comes from the convolution's own backward.
    private sealed record Filters(Tensor Weight, long[] Padding, HandedOver HandedOver);

    /// <summary>
    /// The gradients a backward step handed to libtorch. TorchSharp's handles to them would keep them alive until the
    /// training step's dispose scope ends; they are let go at the next hooked backward instead (libtorch holds its own
    /// references by then), so each gradient is freed about when libtorch is done with it, as without the hooks.
    /// </summary>
    private sealed class HandedOver
    {
        private readonly List<Tensor> _tensors = [];

        public void Add(params Tensor[] tensors) => _tensors.AddRange(tensors);

        public void Release()
        {
            foreach (var tensor in _tensors) tensor.Dispose();
            _tensors.Clear();
        }
    }

    /// <summary>
    /// Identity on the convolution's output (computed from the detached input); its backward hands the output's gradient
    /// on to the convolution and gives the input its gradient by <see cref="InputGradient"/>.
    /// </summary>
    private sealed class InputGradientStep : SingleTensorFunction<InputGradientStep>
    {
        private const string PaddingKey = "padding", HandedOverKey = "handedOver";

        public override string Name => nameof(FlippedFilterGradient);

        // vars: the input, the convolution's output, the Filters.
        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var filters = (Filters)vars[2];
            ctx.set_materialize_grads(false);
            ctx.save_for_backward([filters.Weight]);
            ctx.save_data(PaddingKey, filters.Padding);
            ctx.save_data(HandedOverKey, filters.HandedOver);
            return (Tensor)vars[1];
        }

        public override List<Tensor> backward(AutogradContext ctx, Tensor outputGradient)
        {
            var handedOver = (HandedOver)ctx.get_data(HandedOverKey);
            handedOver.Release();
            if (outputGradient.IsInvalid) return [null!, null!, null!]; // the output reached no loss: no gradient to pass on
            Tensor inputGradient;
            using (NewDisposeScope())
            {
                using var weight = ctx.get_saved_variables()[0];
                inputGradient = InputGradient(outputGradient, weight, (long[])ctx.get_data(PaddingKey)).MoveToOuterDisposeScope();
            }
            handedOver.Add(outputGradient, inputGradient);
            return [inputGradient, outputGradient, null!];
        }
    }

    private sealed class HookRemoval(List<Action> removers) : IDisposable
    {
        public void Dispose()
        {
            foreach (var remove in removers) remove();
            removers.Clear();
        }
    }
}
