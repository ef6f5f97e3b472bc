using Cifar.Networks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using D = Cifar.Networks;

namespace Cifar.Trainer.Networks;

/// <summary>Builds the TorchSharp network a checked <see cref="NetworkDefinition"/> describes.</summary>
internal static class NetworkBuilder
{
    /// <summary>
    /// A freshly initialised network whose children carry the definition's layer names, so its state-dict keys are
    /// those names plus <c>.weight</c>, <c>.bias</c> … The layers are created in definition order, each with the
    /// arguments TorchSharp's own constructors take, so a seed gives the same weights as the hand-written network.
    /// </summary>
    /// <exception cref="NetworkDefinitionException">The definition does not check (<see cref="NetworkDefinition.Check"/>).</exception>
    public static Sequential Build(NetworkDefinition definition, int classCount)
    {
        var layers = NetworkShapes.Resolve(definition, classCount);
        return nn.Sequential(layers.Select(l => (l.Name, Module(l, classCount))).ToArray());
    }

    private static nn.Module<Tensor, Tensor> Module(ResolvedLayer r, int classCount) => r.Layer switch
    {
        D.Conv2d c => nn.Conv2d(r.Input[0], c.OutChannels, kernel_size: c.KernelSize, stride: c.Stride, padding: c.Padding, bias: c.Bias),
        D.BatchNorm2d b => nn.BatchNorm2d(r.Input[0], eps: b.Epsilon, momentum: b.Momentum),
        D.Relu => nn.ReLU(),
        D.Gelu => nn.GELU(),
        D.MaxPool2d m => nn.MaxPool2d(kernel_size: m.KernelSize, stride: m.Stride),
        D.AvgPool2d a => nn.AvgPool2d(kernel_size: a.KernelSize, stride: a.Stride),
        D.GlobalAvgPool => new GlobalAvgPoolModule(),
        D.Dropout d => nn.Dropout(d.Probability),
        D.Flatten => nn.Flatten(),
        D.Linear l => nn.Linear(r.Input[0], l.OutFeatures ?? classCount, hasBias: l.Bias),
        D.Residual => new ResidualModule(r.Body.Select(b => (b.Name, Module(b, classCount)))),
        // NetworkShapes refuses every other kind before anything is built.
        _ => throw new NotSupportedException($"layer '{r.Path}' ({r.Layer.GetType().Name}) is not supported"),
    };
}

/// <summary>x + body(x); the body's layers are registered under their own names (<c>residual1.conv1.weight</c>).</summary>
internal sealed class ResidualModule : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor>[] _body;

    public ResidualModule(IEnumerable<(string Name, nn.Module<Tensor, Tensor> Module)> body) : base(nameof(ResidualModule))
    {
        var layers = body.ToArray();
        // Registered one by one (not as a Sequential field) so state dicts, to(device), train() and eval() reach them
        // under the definition's names.
        foreach (var (name, module) in layers) register_module(name, module);
        _body = layers.Select(l => l.Module).ToArray();
    }

    /// <summary>The body's layers in order, with their names.</summary>
    public IEnumerable<(string Name, nn.Module Module)> Body => named_children();

    public override Tensor forward(Tensor input)
    {
        var x = input;
        foreach (var layer in _body) x = layer.forward(x);
        return input + x;
    }
}

/// <summary>Mean of each channel over all positions: [N, C, H, W] → [N, C].</summary>
internal sealed class GlobalAvgPoolModule : nn.Module<Tensor, Tensor>
{
    public GlobalAvgPoolModule() : base(nameof(GlobalAvgPoolModule)) { }

    public override Tensor forward(Tensor input)
    {
        using var pooled = nn.functional.adaptive_avg_pool2d(input, 1);
        return pooled.flatten(1);
    }
}
