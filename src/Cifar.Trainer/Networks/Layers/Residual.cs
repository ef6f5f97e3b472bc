using Cifar.Trainer.Onnx;
using static TorchSharp.torch;

namespace Cifar.Networks;

/// <summary>A skip connection: x + Body(x). The body must give back the shape it was given.</summary>
/// <param name="Body">The layers on the residual branch, in order; their names are scoped by this layer's name.</param>
[LayerKind(typeof(ResidualKind))]
public sealed record Residual(IReadOnlyList<Layer> Body) : Layer
{
    /// <summary>Equal when the names and the bodies' layers are equal, in order.</summary>
    public bool Equals(Residual? other) =>
        other is not null && base.Equals(other) && NetworkDefinition.SameLayers(Body, other.Body);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(base.GetHashCode(), NetworkDefinition.LayersHash(Body));
}

internal sealed class ResidualKind : LayerKind<Residual, ResidualModule>
{
    public override string NamePrefix => "residual";

    protected override int[] Output(Residual residual, ShapeCheck check)
    {
        var body = check.Body(residual.Body);
        if (!body[^1].Output.SequenceEqual(check.Input))
            check.Fail($"the body turns {NetworkShapes.Shape(check.Input)} into {NetworkShapes.Shape(body[^1].Output)}; it must give back the shape it was given");
        return check.Input;
    }

    protected override ResidualModule Build(Residual residual, ResolvedLayer at) => new(NetworkBuilder.BuildModules(at.Body));

    protected override string Export(Residual residual, ResidualModule module, LayerExport onnx) =>
        onnx.Node("Add", [onnx.Input, onnx.Body()]);
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

    public override Tensor forward(Tensor input)
    {
        var x = input;
        foreach (var layer in _body) x = layer.call(x); // call, not forward: with the layers' hooks (FlippedFilterGradient)
        return input + x;
    }
}
