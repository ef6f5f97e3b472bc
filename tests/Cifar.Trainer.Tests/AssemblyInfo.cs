// These tests build layers, which draw their initial weights from libtorch's one process-wide generator, and
// several of them compare two runs with the same seed bit for bit: run in parallel, one test's layers would draw
// between another's seed and its weights. The trainer itself serialises its own seeding (CnnTrainer); tests that
// build layers directly cannot, so the classes here run one after another.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly)]
