using System.Reflection;
using System.Text.Json.Serialization;
using Cifar.Trainer.Onnx;
using Cifar.Trainer.Training;
using static TorchSharp.torch;

namespace Cifar.Networks;

/// <summary>
/// Everything the engine knows about one kind of layer, beside its record: the default name, the shape rule (with the
/// checks of the record's values), the TorchSharp module, the ONNX form and the training hooks. A record names its
/// kind with <see cref="LayerKindAttribute"/>; the record and its kind live in one file of <c>Networks/Layers/</c>.
/// </summary>
/// <remarks>
/// The engine calls these untyped members; a kind implements the typed ones of <see cref="LayerKind{TLayer, TModule}"/>.
/// </remarks>
internal abstract class LayerKind
{
    /// <summary>The prefix of the layer's default name, numbered per kind within its list (<c>conv</c>: conv1, conv2 …).</summary>
    public abstract string NamePrefix { get; }

    /// <summary>The output shape for the checked input of <paramref name="check"/>, or an exception naming what is wrong.</summary>
    public abstract int[] Output(Layer layer, ShapeCheck check);

    /// <summary>Why the ONNX export cannot express <paramref name="layer"/>, or null when it can.</summary>
    public abstract string? ExportRefusal(Layer layer);

    /// <summary>The freshly initialised module of a checked layer.</summary>
    public abstract nn.Module<Tensor, Tensor> Build(ResolvedLayer layer);

    /// <summary>The type of the modules <see cref="Build(ResolvedLayer)"/> makes: what a built network's layer must be.</summary>
    public abstract Type ModuleType { get; }

    /// <summary>Adds the layer to an ONNX graph; returns the name of its output.</summary>
    public abstract string Export(BuiltLayer layer, LayerExport onnx);

    /// <summary>Before the first step of a fresh network: sets weights that come from the training images.</summary>
    public abstract void InitializeFromData(BuiltLayer layer, TensorDataset train);

    /// <summary>At the start of each epoch (1-based): freezes or thaws weights by the epoch.</summary>
    public abstract void StartEpoch(BuiltLayer layer, int epoch);
}

/// <summary>A layer kind for records of <typeparamref name="TLayer"/>, built as modules of <typeparamref name="TModule"/>.</summary>
internal abstract class LayerKind<TLayer, TModule> : LayerKind
    where TLayer : Layer
    where TModule : nn.Module<Tensor, Tensor>
{
    /// <summary>
    /// The output shape of <paramref name="layer"/> given <see cref="ShapeCheck.Input"/>; every value of the record is
    /// checked here, so a layer that passes builds, trains and exports.
    /// </summary>
    protected abstract int[] Output(TLayer layer, ShapeCheck check);

    /// <summary>A fresh module for <paramref name="layer"/>, whose shapes <paramref name="at"/> holds.</summary>
    protected abstract TModule Build(TLayer layer, ResolvedLayer at);

    /// <summary>The layer in ONNX, from <see cref="LayerExport.Input"/>, its weights under <see cref="LayerExport.Path"/>.</summary>
    protected abstract string Export(TLayer layer, TModule module, LayerExport onnx);

    /// <summary>Why the ONNX export cannot express <paramref name="layer"/>; by default it always can.</summary>
    protected virtual string? ExportRefusal(TLayer layer) => null;

    /// <summary>Sets weights from the first training images; by default none come from the data.</summary>
    protected virtual void InitializeFromData(TLayer layer, TModule module, TensorDataset train) { }

    /// <summary>Freezes or thaws weights by the epoch; by default nothing changes.</summary>
    protected virtual void StartEpoch(TLayer layer, TModule module, int epoch) { }

    public sealed override int[] Output(Layer layer, ShapeCheck check) => Output((TLayer)layer, check);

    public sealed override string? ExportRefusal(Layer layer) => ExportRefusal((TLayer)layer);

    public sealed override nn.Module<Tensor, Tensor> Build(ResolvedLayer layer) => Build((TLayer)layer.Layer, layer);

    public sealed override Type ModuleType => typeof(TModule);

    public sealed override string Export(BuiltLayer layer, LayerExport onnx) => Export((TLayer)layer.Layer.Layer, (TModule)layer.Module, onnx);

    public sealed override void InitializeFromData(BuiltLayer layer, TensorDataset train) =>
        InitializeFromData((TLayer)layer.Layer.Layer, (TModule)layer.Module, train);

    public sealed override void StartEpoch(BuiltLayer layer, int epoch) => StartEpoch((TLayer)layer.Layer.Layer, (TModule)layer.Module, epoch);
}

/// <summary>Names the <see cref="LayerKind"/> of a layer record: <c>[LayerKind(typeof(Conv2dKind))] public sealed record Conv2d …</c>.</summary>
/// <param name="kind">A <see cref="LayerKind"/> with a parameterless constructor.</param>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
internal sealed class LayerKindAttribute(Type kind) : Attribute
{
    /// <summary>The kind's type.</summary>
    public Type Kind { get; } = kind;
}

/// <summary>Finds layer kinds by their record's type.</summary>
internal static class LayerKinds
{
    /// <summary>
    /// The records a network definition may hold, in order: the derived types of <see cref="Layer"/>'s JSON form (its
    /// <c>JsonDerivedType</c> list, what configs and checkpoints name by <c>Type</c>).
    /// </summary>
    public static IReadOnlyList<Type> BuiltIn { get; } =
        typeof(Layer).GetCustomAttributes<JsonDerivedTypeAttribute>(inherit: false).Select(a => a.DerivedType).ToArray();

    /// <summary>The kind of records of <paramref name="layerType"/>, or null for a record without one (not buildable).</summary>
    public static LayerKind? Of(Type layerType) =>
        layerType.GetCustomAttribute<LayerKindAttribute>(inherit: false) is { } attribute
            ? (LayerKind)Activator.CreateInstance(attribute.Kind)!
            : null;
}
