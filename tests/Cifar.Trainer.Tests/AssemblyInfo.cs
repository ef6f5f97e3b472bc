// These tests build layers, which draw their initial weights from libtorch's one process-wide generator, and
// several of them compare two runs with the same seed bit for bit: run in parallel, one test's layers would draw
// between another's seed and its weights. The trainer itself serialises its own seeding (CnnTrainer); tests that
// build layers directly cannot, so the classes here run one after another.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly)]

namespace Cifar.Trainer.Tests
{
    internal static class LibraryFirst
    {
        // The library sets libtorch's and oneDNN's environment switches when it loads, before any of its entry points
        // reaches libtorch (HugePages, OneDnnIsa); tests that call TorchSharp directly must not reach libtorch before it.
        [System.Runtime.CompilerServices.ModuleInitializer]
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "orders the library's initializer before the tests' first libtorch call")]
        internal static void LoadTheLibrary() =>
            System.Runtime.CompilerServices.RuntimeHelpers.RunModuleConstructor(typeof(Native.HugePages).Module.ModuleHandle);
    }
}
