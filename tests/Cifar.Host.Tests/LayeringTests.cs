using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime.CompilerServices;

namespace Cifar.Host.Tests;

/// <summary>
/// Dependencies point one way and the layers keep their faces, read off the compiled assemblies: the app (cifar.dll)
/// speaks to the public API of Cifar.MLNet and Cifar.Trainer and never to TorchSharp, and neither library's public API
/// shows an engine type (TorchSharp, OnnxSharp's protobuf graph, an internal type of the engine).
/// </summary>
public class LayeringTests
{
    /// <summary>The engine's assemblies: what trains and what writes ONNX graphs.</summary>
    private static readonly string[] EngineAssemblies = ["TorchSharp", "OnnxSharp", "Google.Protobuf"];

    private static readonly Assembly App = typeof(CifarApp).Assembly;
    private static readonly Assembly MLNet = typeof(Cifar.MLNet.CifarCnnEstimator).Assembly;
    private static readonly Assembly Trainer = typeof(TrainingOptions).Assembly;

    private static bool IsEngine(Assembly assembly) => EngineAssemblies.Contains(assembly.GetName().Name);

    [Fact]
    public void The_host_references_no_engine_assembly()
    {
        var names = App.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.Contains("Cifar.MLNet", names);
        Assert.DoesNotContain(names, n => EngineAssemblies.Contains(n));
    }

    [Fact]
    public void The_host_uses_only_public_types_of_the_libraries()
    {
        using var pe = new PEReader(File.OpenRead(App.Location));
        var metadata = pe.GetMetadataReader();
        var libraries = new[] { MLNet, Trainer }.ToDictionary(a => a.GetName().Name!);

        // The assembly a reference resolves in, and its name as reflection spells it (Outer+Inner for nested types).
        (string? Assembly, string Name) Resolve(TypeReference type)
        {
            var name = metadata.GetString(type.Name);
            var ns = metadata.GetString(type.Namespace);
            var scope = type.ResolutionScope;
            if (scope.Kind == HandleKind.TypeReference)
            {
                var outer = Resolve(metadata.GetTypeReference((TypeReferenceHandle)scope));
                return (outer.Assembly, $"{outer.Name}+{name}");
            }
            var assembly = scope.Kind == HandleKind.AssemblyReference
                ? metadata.GetString(metadata.GetAssemblyReference((AssemblyReferenceHandle)scope).Name)
                : null;
            return (assembly, ns.Length == 0 ? name : $"{ns}.{name}");
        }

        var used = metadata.TypeReferences.Select(h => Resolve(metadata.GetTypeReference(h)))
            .Where(t => t.Assembly is not null && libraries.ContainsKey(t.Assembly)).ToList();
        Assert.NotEmpty(used);
        var notPublic = used.Where(t => libraries[t.Assembly!].GetType(t.Name) is not { IsVisible: true })
            .Select(t => $"{t.Assembly}: {t.Name}").ToList();
        Assert.Empty(notPublic);
    }

    [Fact]
    public void The_libraries_grant_the_host_no_internals()
    {
        var app = App.GetName().Name!;
        foreach (var library in new[] { MLNet, Trainer })
            Assert.DoesNotContain(app, library.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName.Split(',')[0].Trim()));
    }

    [Fact]
    public void The_mlnet_public_api_exposes_no_engine_or_internal_type() => Assert.Empty(ExposedEngineTypes(MLNet));

    [Fact]
    public void The_trainer_public_api_exposes_no_engine_or_internal_type() => Assert.Empty(ExposedEngineTypes(Trainer));

    /// <summary>Where the public API of <paramref name="library"/> shows a type of an engine assembly, or a type not public.</summary>
    private static List<string> ExposedEngineTypes(Assembly library)
    {
        var exposed = new List<string>();
        void Check(Type? type, string where)
        {
            if (type is null || type.IsGenericParameter) return;
            if (type.HasElementType) { Check(type.GetElementType(), where); return; }
            // Not visible counts for the libraries' own types only (a base class may implement a framework's internal interface).
            if (IsEngine(type.Assembly) || (!type.IsVisible && (type.Assembly == MLNet || type.Assembly == Trainer))) exposed.Add($"{where}: {type.FullName ?? type.Name} ({type.Assembly.GetName().Name})");
            if (type.IsGenericType) foreach (var argument in type.GetGenericArguments()) Check(argument, where);
        }
        const BindingFlags visible = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        // Protected members are part of the API too, where a public type can be derived from.
        const BindingFlags derivable = visible | BindingFlags.NonPublic;
        static bool IsApi(MethodBase? m) => m is not null && (m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly);
        foreach (var type in library.GetExportedTypes())
        {
            Check(type.BaseType, type.Name);
            foreach (var i in type.GetInterfaces()) Check(i, type.Name);
            foreach (var p in type.GetProperties(derivable).Where(p => IsApi(p.GetMethod) || IsApi(p.SetMethod)))
                Check(p.PropertyType, $"{type.Name}.{p.Name}");
            foreach (var f in type.GetFields(derivable).Where(f => f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly))
                Check(f.FieldType, $"{type.Name}.{f.Name}");
            foreach (var e in type.GetEvents(visible)) Check(e.EventHandlerType, $"{type.Name}.{e.Name}");
            foreach (var m in type.GetMethods(derivable).Cast<MethodBase>().Concat(type.GetConstructors(derivable)).Where(IsApi))
            {
                if (m is MethodInfo method) Check(method.ReturnType, $"{type.Name}.{m.Name}");
                foreach (var p in m.GetParameters()) Check(p.ParameterType, $"{type.Name}.{m.Name}({p.Name})");
            }
        }
        return exposed;
    }
}
