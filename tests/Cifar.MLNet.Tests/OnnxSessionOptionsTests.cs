using Cifar.MLNet.Prediction;
using Cifar.MLNet.Stages;
using Cifar.Tests;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Transforms.Onnx;

namespace Cifar.MLNet.Tests;

/// <summary>
/// The ONNX sessions ML.NET creates for our stages and models are made with session options that stay alive while
/// ONNX Runtime reads them (<see cref="OnnxSessionOptionsKeeper"/>): without that, a garbage collection during a session's
/// creation frees them and the process dies of SIGSEGV. Alone: the collecting loop would endanger the sessions other tests
/// make on contexts of their own.
/// </summary>
[Collection(nameof(OnnxSessionOptionsTests))]
public class OnnxSessionOptionsTests
{
    private const string StressSecondsVariable = "CIFAR_TEST_SESSION_STRESS_SECONDS";

    [Fact]
    public void A_context_that_loaded_a_model_makes_every_session_with_one_set_of_options_with_ML_NET_s_default_settings()
    {
        using var dir = new TestData.TempFolder();
        TempFileTests.SaveModel(dir.File("model.zip"), classifier: true);
        var ml = new MLContext(seed: 1);
        using (CifarModel.Load(dir.File("model.zip"), ml)) { }

        var create = ml.GetOnnxSessionOption()?.CreateSessionOptions;
        Assert.NotNull(create);
        var options = create();
        Assert.Same(options, create()); // held by the context, so never garbage while a session is made from it
        var defaults = new OnnxSessionOptions(); // what ML.NET would have copied into a new SessionOptions
        Assert.Equal(defaults.EnableMemoryPattern, options.EnableMemoryPattern);
        Assert.Equal(defaults.EnableCpuMemArena, options.EnableCpuMemArena);
        Assert.Equal(defaults.EnableProfiling, options.EnableProfiling);
        Assert.Equal(defaults.GraphOptimizationLevel, options.GraphOptimizationLevel);
        Assert.Equal(defaults.ExecutionMode, options.ExecutionMode);
        Assert.Equal(defaults.LogSeverityLevel, options.LogSeverityLevel);
        Assert.Equal(defaults.InterOpNumThreads, options.InterOpNumThreads);
        Assert.Equal(defaults.IntraOpNumThreads, options.IntraOpNumThreads);
    }

    [Fact]
    public void A_context_whose_owner_set_its_ONNX_session_options_keeps_them()
    {
        var ml = new MLContext();
        var own = new OnnxSessionOptions { IntraOpNumThreads = 1 };
        ml.SetOnnxSessionOption(own);
        Assert.Same(ml, ml.KeepOnnxSessionOptionsAlive());
        Assert.Same(own, ml.GetOnnxSessionOption());
        Assert.Null(own.CreateSessionOptions);
    }

    [Fact]
    public void A_context_with_a_GPU_device_is_left_to_make_its_sessions_on_it()
    {
        // ML.NET makes the sessions of a context with kept options from those options alone, ignoring its GPU device.
        var ml = new MLContext { GpuDeviceId = 0, FallbackToCpu = true }.KeepOnnxSessionOptionsAlive();
        Assert.Null(ml.GetOnnxSessionOption());
    }

    /// <summary>
    /// Fits the normalization stage (one ONNX session each: through the catalog of a context kept by the caller, and through
    /// the constructor, which keeps it) and loads a model zip (a session again), while another thread collects garbage and
    /// runs finalizers in a loop. In this process, a few seconds; run by the test below in a child process for longer.
    /// </summary>
    [Fact]
    public void Stages_and_models_make_their_sessions_while_garbage_is_collected_in_a_loop()
    {
        int seconds = int.TryParse(Environment.GetEnvironmentVariable(StressSecondsVariable), out int s) ? s : 2;
        using var dir = new TestData.TempFolder();
        TempFileTests.SaveModel(dir.File("model.zip"), classifier: true);
        var ml = new MLContext(seed: 1).KeepOnnxSessionOptionsAlive(); // for the stage made through its catalog
        var paths = TempFileTests.Paths(ml);
        var pixels = ml.Transforms.LoadCifarImages().Fit(paths).Transform(paths);

        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        int sessions = 0;
        var collector = new Thread(() =>
        {
            while (DateTime.UtcNow < deadline)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        collector.Start();
        while (DateTime.UtcNow < deadline)
        {
            using (ml.Transforms.NormalizeCifarPixels().Fit(pixels)) sessions++;
            using (new CifarNormalizationEstimator(ml).Fit(pixels)) sessions++;
            using (CifarModel.Load(dir.File("model.zip"))) sessions++;
        }
        collector.Join();
        Assert.True(sessions >= 3, $"{sessions} sessions made");
    }

    [Fact]
    public async Task Sessions_made_for_twenty_seconds_under_a_collecting_thread_never_crash_the_process()
    {
        if (Environment.GetEnvironmentVariable(StressSecondsVariable) is not null) Assert.Skip("this process is the child test process");
        // Optimized code from the start (the options are garbage as soon as their handle is read, not at the end of the
        // method as in unoptimized code) and freed memory overwritten by glibc (so that reading freed options crashes at
        // once): without the kept options this process died within seconds on every try.
        var test = $"{typeof(OnnxSessionOptionsTests).FullName}.{nameof(Stages_and_models_make_their_sessions_while_garbage_is_collected_in_a_loop)}";
        string[] args = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet"
            ? [typeof(OnnxSessionOptionsTests).Assembly.Location, "--filter-method", test] : ["--filter-method", test];
        var child = await ChildProcess.RunAsync(Environment.ProcessPath!, args, TimeSpan.FromMinutes(3), new Dictionary<string, string?>
        {
            ["DOTNET_TieredCompilation"] = "0",
            ["MALLOC_PERTURB_"] = "165",
            [StressSecondsVariable] = "20",
        });
        Assert.True(child.ExitCode == 0, $"the child test process ended with {child.ExitCode}:\n{child.Output}\n{child.Errors}");
        Assert.Matches(@"succeeded: 1\b", child.Output); // the filter found the test (a crash leaves its report in TestResults/crash)
    }
}

/// <summary>Runs <see cref="OnnxSessionOptionsTests"/> with no other test at the same time.</summary>
[CollectionDefinition(nameof(OnnxSessionOptionsTests), DisableParallelization = true)]
public sealed class OnnxSessionOptionsCollection;
