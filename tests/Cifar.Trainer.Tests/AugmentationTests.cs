using Cifar.Trainer.Augmentation;
using Cifar.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Cifar.Trainer.Tests;

/// <summary>
/// The augmentation against torchvision's definitions. Expected values come from
/// tests/reference/torchvision_reference.py (torchvision 0.14, torchvision.transforms.functional on tensors).
/// </summary>
public class AugmentationTests
{
    private static Tensor Image(float[] values, params long[] shape) => tensor(values, shape);

    private static void AssertClose(float[] expected, Tensor actual, float tolerance = 1e-5f)
    {
        var values = actual.contiguous().data<float>().ToArray();
        Assert.Equal(expected.Length, values.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - values[i]) <= tolerance, $"value {i}: expected {expected[i]}, got {values[i]}");
    }

    private static readonly float[] Arange16 = Enumerable.Range(1, 16).Select(i => (float)i).ToArray();
    private static readonly float[] Arange64 = Enumerable.Range(1, 64).Select(i => (float)i).ToArray();

    [Fact]
    public void Drawing_a_whole_epoch_at_once_gives_the_per_batch_result()
    {
        // 70 images in batches of 32, 32, 6: the epoch's draws, sliced per batch, are the per-batch draws,
        // colour jitter (drawn per image between the batch's flips and angles) included.
        var augmenter = new BatchAugmenter(AugmentationOptions.Tutorial with
        {
            ColorJitter = new() { Brightness = 0.2, Contrast = 0.2, Saturation = 0.2, Hue = 0.1 },
        });
        AssertEpochDrawsGiveThePerBatchResult(augmenter, count: 70, batchSize: 32, side: 32);
    }

    /// <summary>
    /// An epoch of <paramref name="count"/> random images drawn at once and applied batch by batch equals each batch
    /// drawn and applied on its own, and both generators end in the same state.
    /// </summary>
    private static void AssertEpochDrawsGiveThePerBatchResult(BatchAugmenter augmenter, long count, int batchSize, long side)
    {
        using var pixels = rand(new long[] { count, 3, side, side }, generator: new Generator(5));
        using var perBatchGenerator = new Generator(9);
        using var epochGenerator = new Generator(9);
        using var draws = augmenter.DrawEpoch(count, batchSize, 1, 0, epochGenerator, CPU);
        for (long start = 0; start < count; start += batchSize)
        {
            using var batch = pixels.narrow(0, start, Math.Min(batchSize, count - start));
            using var indices = arange(start, start + batch.shape[0]);
            using var expected = augmenter.Apply(batch, perBatchGenerator);
            using var got = augmenter.Apply(batch, draws, indices, start);
            Assert.True(got.allclose(expected, rtol: 0, atol: 0), $"batch at {start}");
        }
        Assert.Equal(perBatchGenerator.get_state().data<byte>().ToArray(), epochGenerator.get_state().data<byte>().ToArray());
    }

    [Fact]
    public void Rotation_by_90_degrees_turns_a_4x4_image_counter_clockwise()
    {
        using var image = Image(Arange16, 1, 1, 4, 4);
        using var rotated = BatchAugmenter.Rotate(image, tensor(new[] { 90.0 }));
        // By hand: the top row becomes the last column read upwards.
        AssertClose(new float[] { 4, 8, 12, 16, 3, 7, 11, 15, 2, 6, 10, 14, 1, 5, 9, 13 }, rotated);
    }

    [Fact]
    public void Rotation_by_10_degrees_matches_torchvision_nearest_zero_fill()
    {
        using var image = Image(Arange64, 1, 1, 8, 8);
        using var rotated = BatchAugmenter.Rotate(image, tensor(new[] { 10.0 }));
        AssertClose(new float[]
        {
            0, 3, 4, 5, 6, 7, 8, 0, 1, 10, 11, 12, 13, 14, 15, 24, 9, 18, 19, 20, 21, 22, 23, 32,
            17, 26, 27, 28, 29, 30, 31, 40, 25, 34, 35, 36, 37, 38, 39, 48, 33, 42, 43, 44, 45, 46, 47, 56,
            41, 50, 51, 52, 53, 54, 55, 64, 0, 57, 58, 59, 60, 61, 62, 0,
        }, rotated);
    }

    [Fact]
    public void Rotation_angles_apply_per_image_in_a_batch()
    {
        using var batch = cat(new[] { Image(Arange64, 1, 1, 8, 8), Image(Arange64, 1, 1, 8, 8) });
        using var rotated = BatchAugmenter.Rotate(batch, tensor(new[] { 0.0, -10.0 }));
        AssertClose(Arange64, rotated[0]);
        AssertClose(new float[]
        {
            0, 1, 2, 3, 4, 5, 6, 0, 17, 10, 11, 12, 13, 14, 15, 8, 25, 18, 19, 20, 21, 22, 23, 16,
            33, 26, 27, 28, 29, 30, 31, 24, 41, 34, 35, 36, 37, 38, 39, 32, 49, 42, 43, 44, 45, 46, 47, 40,
            57, 50, 51, 52, 53, 54, 55, 48, 0, 59, 60, 61, 62, 63, 64, 0,
        }, rotated[1]);
    }

    [Fact]
    public void Horizontal_flip_with_probability_1_mirrors_every_row_and_0_changes_nothing()
    {
        using var generator = new Generator(7);
        using var image = Image(Arange16.Concat(Arange16).Concat(Arange16).ToArray(), 1, 3, 4, 4);
        var always = new BatchAugmenter(new AugmentationOptions { HorizontalFlip = true, HorizontalFlipProbability = 1 });
        using var flipped = always.Apply(image, generator);
        var row = new float[] { 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13 };
        AssertClose(row.Concat(row).Concat(row).ToArray(), flipped);

        var never = new BatchAugmenter(new AugmentationOptions());
        Assert.Same(image, never.Apply(image, generator));
    }

    [Fact]
    public void Default_ColorJitter_is_the_identity_as_in_the_tutorial()
    {
        var settings = new AugmentationOptions { ColorJitter = new() { Brightness = 0, Contrast = 0, Saturation = 0, Hue = 0 } };
        Assert.False(settings.HasColorJitter);
        Assert.True(settings.IsIdentity);
        Assert.False(AugmentationOptions.Tutorial.HasColorJitter);
        using var generator = new Generator(1);
        using var image = rand(2, 3, 8, 8);
        var augmenter = new BatchAugmenter(settings);
        Assert.Same(image, augmenter.Apply(image, generator));
    }

    private static readonly float[] Rgb2x2 = { 0.2f, 0.9f, 0.5f, 0.0f, 0.4f, 0.1f, 0.5f, 1.0f, 0.6f, 0.3f, 0.5f, 0.25f };

    [Fact]
    public void Brightness_contrast_and_saturation_match_torchvision()
    {
        using var image = Image(Rgb2x2, 3, 2, 2);
        AssertClose(new[] { 0.3f, 1.0f, 0.75f, 0.0f, 0.6f, 0.15f, 0.75f, 1.0f, 0.9f, 0.45f, 0.75f, 0.375f },
            BatchAugmenter.AdjustBrightness(image, 1.5));
        AssertClose(new[] { 0.330043f, 0.680043f, 0.480043f, 0.230043f, 0.430043f, 0.280043f, 0.480043f, 0.730043f, 0.530043f, 0.380043f, 0.480043f, 0.355043f },
            BatchAugmenter.AdjustContrast(image, 0.5));
        AssertClose(new[] { 0.314086f, 0.523337f, 0.499965f, 0.430850f, 0.374086f, 0.283337f, 0.499965f, 0.730850f, 0.434086f, 0.343337f, 0.499965f, 0.505850f },
            BatchAugmenter.AdjustSaturation(image, 0.3));
    }

    [Fact]
    public void A_grey_image_is_jittered_in_brightness_and_contrast_only_as_torchvision_does()
    {
        // One channel [1, 1, 2]: brightness 0.5 halves; contrast 0.5 blends with the mean 0.5; saturation and hue leave
        // it as it is (torchvision returns a one-channel image unchanged).
        using var image = Image(new[] { 0.2f, 0.8f }, 1, 1, 2);
        AssertClose(new[] { 0.1f, 0.4f }, BatchAugmenter.AdjustBrightness(image, 0.5));
        AssertClose(new[] { 0.35f, 0.65f }, BatchAugmenter.AdjustContrast(image, 0.5));
        AssertClose(new[] { 0.2f, 0.8f }, BatchAugmenter.AdjustSaturation(image, 0.3));
        AssertClose(new[] { 0.2f, 0.8f }, BatchAugmenter.AdjustHue(image, 0.25));
    }

    [Fact]
    public void Hue_shifts_match_torchvision()
    {
        using var image = Image(Rgb2x2, 3, 2, 2);
        AssertClose(new[] { 0.6f, 0.7f, 0.5f, 0.0f, 0.2f, 0.9f, 0.5f, 0.25f, 0.6f, 0.1f, 0.5f, 1.0f },
            BatchAugmenter.AdjustHue(image, 0.25));
        AssertClose(new[] { 0.56f, 0.1f, 0.5f, 1.0f, 0.6f, 0.62f, 0.5f, 0.0f, 0.2f, 0.9f, 0.5f, 0.15f },
            BatchAugmenter.AdjustHue(image, -0.4));
    }

    [Fact]
    public void Rotation_fill_is_black()
    {
        using var generator = new Generator(3);
        using var white = ones(1, 3, 8, 8);
        var augmenter = new BatchAugmenter(new AugmentationOptions { RotationDegrees = 45 });
        using var rotated = augmenter.Apply(white, generator);
        var values = rotated.data<float>().ToArray();
        // Any rotation of a square by a non-zero angle leaves its corners uncovered.
        Assert.All(values, v => Assert.True(v == 1 || v == 0, $"value {v}"));
        Assert.Contains(values, v => v == 0);
        Assert.Contains(values, v => v == 1);
    }

    [Fact]
    public void Draws_are_fresh_per_call_and_repeat_with_the_same_seed()
    {
        var augmenter = new BatchAugmenter(AugmentationOptions.Tutorial);
        using var images = arange(16 * 3 * 8 * 8, dtype: ScalarType.Float32).view(16, 3, 8, 8) / (16 * 3 * 8 * 8);
        float[] Run(Generator g) => augmenter.Apply(images, g).data<float>().ToArray();
        using var first = new Generator(11);
        var a1 = Run(first);
        var a2 = Run(first);
        using var again = new Generator(11);
        Assert.Equal(a1, Run(again));
        Assert.NotEqual(a1, a2);
    }

    [Fact]
    public void Translation_is_the_reflect_padded_crop_at_the_shifted_offset()
    {
        // Two images of two channels (the second channel is the first + 100), shifted (1, −2) and (−2, 2).
        var channels = Arange16.Concat(Arange16.Select(v => v + 100)).ToArray();
        using var images = Image(channels.Concat(channels).ToArray(), 2, 2, 4, 4);
        using var rows = tensor(new long[] { 1, -2 });
        using var columns = tensor(new long[] { -2, 2 });
        using var translated = BatchAugmenter.Translate(images, rows, columns, pad: 2);
        // By hand, output (y, x) = input (y + dy, x + dx), an index i outside 0..3 reflected to −i or 6 − i:
        // image 0 reads rows 1, 2, 3, 2 and columns 2, 1, 0, 1; image 1 rows 2, 1, 0, 1 and columns 2, 3, 2, 1.
        var first = new float[] { 7, 6, 5, 6, 11, 10, 9, 10, 15, 14, 13, 14, 11, 10, 9, 10 };
        var second = new float[] { 11, 12, 11, 10, 7, 8, 7, 6, 3, 4, 3, 2, 7, 8, 7, 6 };
        AssertClose(first.Concat(first.Select(v => v + 100)).ToArray(), translated[0]);
        AssertClose(second.Concat(second.Select(v => v + 100)).ToArray(), translated[1]);
    }

    [Fact]
    public void A_zero_shift_leaves_the_image_as_it_was()
    {
        using var image = Image(Arange64, 1, 1, 8, 8);
        using var zero = tensor(new long[] { 0 });
        AssertClose(Arange64, BatchAugmenter.Translate(image, zero, zero, pad: 2));
    }

    [Fact]
    public void Each_batch_draws_flips_then_shifts_then_angles_from_the_epoch_generator()
    {
        // The draw order by hand: the existing options' draws stay where they were, translation's come between.
        var settings = new AugmentationOptions { HorizontalFlip = true, RotationDegrees = 10, Translate = 2 };
        using var generator = new Generator(21);
        using var draws = new BatchAugmenter(settings).DrawEpoch(5, 3, 1, 0, generator, CPU);
        using var replay = new Generator(21);
        var flips = new List<bool>();
        var shifts = new List<long>();
        var degrees = new List<double>();
        foreach (var n in new long[] { 3, 2 })
        {
            flips.AddRange((rand(n, generator: replay) < 0.5).data<bool>().ToArray());
            shifts.AddRange(randint(-2, 3, new long[] { n, 2 }, dtype: ScalarType.Int64, generator: replay).data<long>().ToArray());
            degrees.AddRange(rand(n, dtype: ScalarType.Float64, generator: replay).data<double>().ToArray().Select(u => u * 20 - 10));
        }
        Assert.Equal(flips, draws.Flips!.data<bool>().ToArray());
        Assert.Equal(shifts.Where((_, i) => i % 2 == 0), draws.RowShifts!.data<long>().ToArray());
        Assert.Equal(shifts.Where((_, i) => i % 2 == 1), draws.ColumnShifts!.data<long>().ToArray());
        Assert.All(shifts, s => Assert.InRange(s, -2, 2));
        Assert.Equal(degrees.Select(d => (float)Math.Cos(d * Math.PI / 180)), draws.Cosines!.data<float>().ToArray());
        Assert.Null(draws.FlipsByImage);
    }

    [Fact]
    public void Translation_drawn_for_a_whole_epoch_gives_the_per_batch_result()
    {
        AssertEpochDrawsGiveThePerBatchResult(new BatchAugmenter(AugmentationOptions.Tutorial with { Translate = 2 }), count: 20, batchSize: 8, side: 8);
    }

    private static readonly AugmentationOptions Alternating = new() { HorizontalFlip = true, AlternateFlips = true };

    private static bool[] FlipsOf(EpochDraws draws) => draws.FlipsByImage!.data<bool>().ToArray();

    [Fact]
    public void Alternating_flips_invert_every_epoch_and_any_epoch_follows_from_the_seed_alone()
    {
        var augmenter = new BatchAugmenter(Alternating);
        using var generator = new Generator(4);
        var epochs = Enumerable.Range(1, 4).Select(epoch =>
        {
            using var draws = augmenter.DrawEpoch(8, 3, epoch, 77, generator, CPU);
            return FlipsOf(draws);
        }).ToArray();

        // The first epoch: one draw per image with p = 0.5 from a generator of the seed.
        using var seeded = new Generator(77);
        var first = (rand(8, generator: seeded) < 0.5).data<bool>().ToArray();
        Assert.Equal(first, epochs[0]);
        Assert.Contains(true, first);
        Assert.Contains(false, first);
        Assert.Equal(first.Select(f => !f), epochs[1]);
        Assert.Equal(first, epochs[2]);
        Assert.Equal(epochs[1], epochs[3]);
        // Alternating flips leave the epoch generator alone.
        using var untouched = new Generator(4);
        Assert.Equal(untouched.get_state().data<byte>().ToArray(), generator.get_state().data<byte>().ToArray());

        // Epoch 3 drawn first thing, as a run resumed after epoch 2 does: the same flips.
        using var fresh = new Generator(4);
        using var resumed = new BatchAugmenter(Alternating).DrawEpoch(8, 3, 3, 77, fresh, CPU);
        Assert.Equal(epochs[2], FlipsOf(resumed));
    }

    [Fact]
    public void Alternating_flips_follow_the_image_index_not_the_batch_position()
    {
        var augmenter = new BatchAugmenter(Alternating);
        using var generator = new Generator(4);
        using var draws = augmenter.DrawEpoch(8, 3, 2, 77, generator, CPU);
        var flips = FlipsOf(draws);
        // Image i is the row 10i, 10i + 1, 10i + 2, 10i + 3; the batch at positions 3..5 holds images 6, 0, 3.
        using var images = (arange(8 * 4, dtype: ScalarType.Float32).view(8, 1, 1, 4) / 4).floor() * 10
            + arange(4, dtype: ScalarType.Float32);
        var indices = new long[] { 6, 0, 3 };
        using var indexTensor = tensor(indices);
        using var batch = images.index_select(0, indexTensor);
        using var augmented = augmenter.Apply(batch, draws, indexTensor, start: 3);
        for (int k = 0; k < 3; k++)
        {
            var row = Enumerable.Range(0, 4).Select(x => (float)(10 * indices[k] + x)).ToArray();
            AssertClose(flips[indices[k]] ? row.Reverse().ToArray() : row, augmented[k]);
        }
        Assert.Contains(indices, i => flips[i]);
        Assert.Contains(indices, i => !flips[i]);
    }

    [Fact]
    public void Alternating_flips_at_probability_0_flip_every_image_in_even_epochs()
    {
        var settings = Alternating with { HorizontalFlipProbability = 0 };
        Assert.False(settings.IsIdentity);
        Assert.True((Alternating with { HorizontalFlip = false }).IsIdentity);
        Assert.False(new AugmentationOptions { Translate = 1 }.IsIdentity);
        var augmenter = new BatchAugmenter(settings);
        using var generator = new Generator(1);
        using var odd = augmenter.DrawEpoch(5, 5, 1, 3, generator, CPU);
        using var even = augmenter.DrawEpoch(5, 5, 2, 3, generator, CPU);
        Assert.All(FlipsOf(odd), f => Assert.False(f));
        Assert.All(FlipsOf(even), f => Assert.True(f));
    }

    [Fact]
    public void A_run_with_alternating_flips_and_translation_resumes_bit_for_bit()
    {
        // Resumed after epoch 1, the run draws epochs 2 (inverted flips) and 3 without having drawn epoch 1.
        var augmenter = new BatchAugmenter(Alternating with { Translate = 2 });
        using var dir = new Cifar.Tests.TestData.TempFolder();
        using var train = TestRuns.RandomSet(32, seed: 1);
        var settings = new TrainingOptions { Epochs = 3, BatchSize = 16, Device = ComputeDevice.Cpu, Seed = 3 };
        using var straight = CnnTrainer.Train(train, null, 3, TestRuns.Run(settings), augmenter);
        var checkpoint = dir.File("checkpoint.bin");
        using (CnnTrainer.Train(train, null, 3, TestRuns.Run(settings with { Epochs = 1 }, checkpoint), augmenter)) { }
        using var resumed = CnnTrainer.Train(train, null, 3, TestRuns.Run(settings, checkpoint, resume: true), augmenter);
        Assert.Equal(straight.History.Select(h => (h.TrainLoss, h.TrainAccuracy)), resumed.History.Select(h => (h.TrainLoss, h.TrainAccuracy)));
        foreach (var (a, b) in straight.Network.parameters().Zip(resumed.Network.parameters()))
            Assert.True(a.allclose(b, rtol: 0, atol: 0), "weights differ after resuming");
    }
}
