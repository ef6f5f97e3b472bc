using Cifar.Trainer.Native;
using static TorchSharp.torch;

namespace Cifar.Trainer.Tests;

/// <summary>
/// <see cref="OneDnnIsa"/>: libtorch's float32 and bfloat16 convolutions (oneDNN's kernels, padded and laid out as this
/// library's passes run them) agree with its float64 ones (ATen's own loops, no oneDNN) on every machine the suite runs
/// on, including processors that describe no caches.
/// </summary>
public class OneDnnIsaTests
{
    [Theory]
    [InlineData(true, null, false)]
    [InlineData(false, null, true)]
    [InlineData(false, "", true)]
    [InlineData(false, "AVX2", false)]   // the user's choice stands
    [InlineData(true, "AVX512_CORE", false)]
    public void Limits_only_where_caches_are_undescribed_and_the_user_chose_nothing(bool describesCaches, string? userSetting, bool expected) =>
        Assert.Equal(expected, OneDnnIsa.ShouldLimit(describesCaches, userSetting));

    [Theory]
    [InlineData(null, true, true)]                 // no limit
    [InlineData("ALL", true, true)]
    [InlineData("all", true, true)]
    [InlineData("avx512_core_bf16", true, true)]
    [InlineData("AVX512_CORE_BF16", true, true)]
    [InlineData("AVX512_CORE_AMX", true, true)]
    [InlineData("AVX10_1_512", true, true)]
    [InlineData("AVX512_CORE_VNNI", true, false)]
    [InlineData("AVX512_CORE", true, false)]
    [InlineData("AVX2", false, false)]
    [InlineData("AVX", false, false)]
    public void A_limit_allows_AVX512_from_AVX512_up_and_native_bfloat16_from_AVX512_BF16_up(string? isa, bool avx512, bool bfloat16) =>
        Assert.Equal((avx512, bfloat16), (OneDnnIsa.AllowsAvx512Under(isa), OneDnnIsa.AllowsNativeBFloat16Under(isa)));

    [Theory]
    [InlineData(null, true, true, 16)]             // no limit: oneDNN's widest vectors
    [InlineData("ALL", true, true, 16)]
    [InlineData("AVX512_CORE", true, true, 16)]
    [InlineData("avx512_core_bf16", true, true, 16)]
    [InlineData("AVX10_1_512", true, true, 16)]
    [InlineData("AVX2", true, true, 8)]
    [InlineData("AVX2_VNNI", true, true, 8)]
    [InlineData("AVX", true, true, 1)]
    [InlineData("SSE41", true, true, 1)]
    [InlineData(null, false, true, 8)]             // a processor without AVX-512
    [InlineData("AVX512_CORE", false, true, 8)]
    [InlineData(null, false, false, 1)]
    public void Channels_are_padded_to_the_vector_width_oneDNN_may_use(string? isa, bool avx512, bool avx2, int expected) =>
        Assert.Equal(expected, OneDnnIsa.ChannelMultipleUnder(isa, avx512, avx2));

    [Theory]
    [InlineData(true, true, "AVX512_CORE_BF16")]   // e.g. Zen 4 and 5: bfloat16 kernels, channels padded to 16
    [InlineData(true, false, "AVX512_CORE")]
    [InlineData(false, true, "AVX")]
    [InlineData(false, false, "AVX")]
    public void The_limit_keeps_AVX512_and_its_bfloat16_kernels_where_the_processor_has_them(bool avx512, bool bfloat16, string expected) =>
        Assert.Equal(expected, OneDnnIsa.SafeIsaFor(avx512, bfloat16));

    [Fact]
    public void A_limit_is_set_exactly_where_the_processor_describes_no_caches()
    {
        bool userChose = OneDnnIsa.Limit is null && OneDnnIsa.Chosen is not null;
        Assert.Equal(!OneDnnIsa.DescribesCaches() && !userChose, OneDnnIsa.Limit is not null);
        if (OneDnnIsa.Limit is not null) Assert.Equal(OneDnnIsa.SafeIsa, Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA"));
    }

    // Channel counts off the vector widths (16 for AVX-512, 8 for AVX2) are where the wrong kernels showed:
    // AirbenchNet's whitening (3 -> 24, 2x2) and first block (24 -> 64), and a 7-filter layer.
    [Theory]
    [InlineData(3, 24, 2, 0, 32)]
    [InlineData(24, 64, 3, 1, 31)]
    [InlineData(1, 7, 3, 1, 9)]
    [InlineData(5, 7, 2, 1, 16)]
    public void Float32_convolutions_and_their_gradients_match_float64(int inputs, int outputs, int kernel, int padding, int side)
    {
        _ = OneDnnIsa.Limit; // this library's module initializer has run before the first convolution
        Assert.Null(CpuKernelCheck.Compare((inputs, outputs, kernel, padding, side)));
    }

    [Theory]
    [InlineData(3, 24, 2, 0, 32)]
    [InlineData(24, 64, 3, 1, 31)]
    [InlineData(5, 7, 2, 1, 16)]
    public void BFloat16_convolutions_and_their_gradients_match_float64_on_the_same_rounded_values(int inputs, int outputs, int kernel, int padding, int side)
    {
        _ = OneDnnIsa.Limit;
        Assert.Null(CpuKernelCheck.Compare((inputs, outputs, kernel, padding, side), ScalarType.BFloat16));
    }

    [Fact]
    public void The_check_in_bfloat16_passes_here_and_allows_a_16_bit_rounding_but_not_a_wrong_kernel()
    {
        CpuKernelCheck.ThrowIfWrong(ScalarType.BFloat16);
        using var expected = tensor(new double[] { 1, -2, 0.5 });
        using var rounded = tensor(new float[] { 1, -2.015625f, 0.5f });   // one bfloat16 step (2^-6) off at 2
        using var off = tensor(new float[] { 1, -1.7f, 0.5f });
        Assert.Null(CpuKernelCheck.Difference(expected, rounded, 1e-2));
        Assert.Equal("off by 0.016 at a scale of 2", CpuKernelCheck.Difference(expected, rounded));
        Assert.Equal("off by 0.3 at a scale of 2", CpuKernelCheck.Difference(expected, off, 1e-2));
    }

    [Fact]
    public void The_check_before_cpu_training_passes_here_and_names_a_difference_beyond_one_part_in_ten_thousand()
    {
        CpuKernelCheck.ThrowIfWrong(); // the kernels of this process (limited where needed) are right
        using var expected = tensor(new double[] { 1, -2, 0.5 });
        using var close = tensor(new float[] { 1, -2.0001f, 0.5f });
        using var off = tensor(new float[] { 1, -1.2f, 0.5f });
        using var nan = tensor(new float[] { 1, float.NaN, 0.5f });
        Assert.Null(CpuKernelCheck.Difference(expected, close));     // 1e-4 at a scale of 2: within 1e-4 of it
        Assert.Equal("off by 0.8 at a scale of 2", CpuKernelCheck.Difference(expected, off));
        Assert.Equal("off by NaN at a scale of 2", CpuKernelCheck.Difference(expected, nan));
    }
}
