using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Cifar.Host.Tests;

/// <summary>Dependencies point one way and the layers keep their faces: read off the compiled assemblies.</summary>
public class LayeringTests
{
    private static bool IsTrainerInternal(string? ns) =>
        ns is not null && (ns.StartsWith("Cifar.Trainer", StringComparison.Ordinal) || ns.StartsWith("TorchSharp", StringComparison.Ordinal));

    [Fact]
    public void The_host_uses_no_type_of_the_trainer_or_of_torchsharp()
    {
        using var pe = new PEReader(File.OpenRead(typeof(CifarApp).Assembly.Location));
        var metadata = pe.GetMetadataReader();
        var used = metadata.TypeReferences.Select(h => metadata.GetTypeReference(h))
            .Select(t => $"{metadata.GetString(t.Namespace)}.{metadata.GetString(t.Name)}")
            .Where(IsTrainerInternal).ToList();
        Assert.Empty(used);
    }

    [Fact]
    public void The_mlnet_public_api_exposes_no_torchsharp_or_trainer_internal_type()
    {
        var exposed = new List<string>();
        void Check(Type? type, string where)
        {
            if (type is null) return;
            if (type.HasElementType) { Check(type.GetElementType(), where); return; }
            if (IsTrainerInternal(type.Namespace)) exposed.Add($"{where}: {type.FullName}");
            if (type.IsGenericType) foreach (var argument in type.GetGenericArguments()) Check(argument, where);
        }
        const BindingFlags visible = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in typeof(Cifar.MLNet.CifarCnnEstimator).Assembly.GetExportedTypes())
        {
            Check(type.BaseType, type.Name);
            foreach (var i in type.GetInterfaces()) Check(i, type.Name);
            foreach (var p in type.GetProperties(visible)) Check(p.PropertyType, $"{type.Name}.{p.Name}");
            foreach (var f in type.GetFields(visible)) Check(f.FieldType, $"{type.Name}.{f.Name}");
            foreach (var m in type.GetMethods(visible).Cast<MethodBase>().Concat(type.GetConstructors()))
            {
                if (m is MethodInfo method) Check(method.ReturnType, $"{type.Name}.{m.Name}");
                foreach (var p in m.GetParameters()) Check(p.ParameterType, $"{type.Name}.{m.Name}({p.Name})");
            }
        }
        Assert.Empty(exposed);
    }
}
