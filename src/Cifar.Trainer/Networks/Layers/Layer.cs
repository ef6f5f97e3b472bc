using System.Text.Json.Serialization;

namespace Cifar.Networks;

/// <summary>
/// One layer of a <see cref="NetworkDefinition"/>: pure data. Input channels and features are not written;
/// they follow from the layers before, starting at the 3×32×32 image.
/// </summary>
/// <remarks>
/// In JSON a layer is an object whose <c>Type</c> property names its kind (<c>{"Type": "Conv2d", "OutChannels": 64,
/// "KernelSize": 3, "Padding": 1}</c>). A subclass needs the library's (internal) layer kind to build
/// and export it, so subclasses outside this assembly are representable but not buildable:
/// <see cref="NetworkDefinition.Check"/> refuses them (the library's own tests add a kind through InternalsVisibleTo).
/// </remarks>
// The JSON names of the layer kinds: what configs, config.json and checkpoint fingerprints write as "Type". Kept as
// attributes so that any serializer options carry them; LayerKinds.BuiltIn reads this list.
[JsonPolymorphic(TypeDiscriminatorPropertyName = "Type")]
[JsonDerivedType(typeof(Conv2d), nameof(Conv2d))]
[JsonDerivedType(typeof(BatchNorm2d), nameof(BatchNorm2d))]
[JsonDerivedType(typeof(Relu), nameof(Relu))]
[JsonDerivedType(typeof(Gelu), nameof(Gelu))]
[JsonDerivedType(typeof(MaxPool2d), nameof(MaxPool2d))]
[JsonDerivedType(typeof(AvgPool2d), nameof(AvgPool2d))]
[JsonDerivedType(typeof(GlobalAvgPool), nameof(GlobalAvgPool))]
[JsonDerivedType(typeof(Dropout), nameof(Dropout))]
[JsonDerivedType(typeof(Flatten), nameof(Flatten))]
[JsonDerivedType(typeof(Linear), nameof(Linear))]
[JsonDerivedType(typeof(Residual), nameof(Residual))]
[JsonDerivedType(typeof(PatchWhitening), nameof(PatchWhitening))]
[JsonDerivedType(typeof(Scale), nameof(Scale))]
public abstract record Layer
{
    /// <summary>
    /// The layer's name, the prefix of its weights' names (<c>conv1</c> → <c>conv1.weight</c>), or null for a
    /// default one: the kind's short name numbered per kind within its list (<c>conv1</c>, <c>bn1</c>,
    /// <c>relu1</c>, <c>conv2</c> …). Names are unique within a list and contain no '.'.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Name { get; init; }
}
