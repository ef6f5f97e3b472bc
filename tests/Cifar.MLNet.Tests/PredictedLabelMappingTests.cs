using Cifar.MLNet.Prediction;

namespace Cifar.MLNet.Tests;

/// <summary>The one stage of ours a loaded zip runs: it passes sound scores and refuses the rest.</summary>
public class PredictedLabelMappingTests
{
    private static string Map(float[] score, params string[] label)
    {
        var output = new PredictedLabelMapping.Output();
        new PredictedLabelMapping().GetMapping()(new PredictedLabelMapping.Input { Score = score, PredictedLabelOnnx = label }, output);
        return output.PredictedLabel;
    }

    [Fact]
    public void Sound_probabilities_give_the_class_name() => Assert.Equal("cat", Map(new[] { 0.25f, 0.75f }, "cat"));

    [Theory]
    [InlineData(new[] { 1f }, "at least 2")]
    [InlineData(new[] { float.NaN, 1f }, "finite")]
    [InlineData(new[] { -0.5f, 1.5f }, "not negative")]
    [InlineData(new[] { 3f, 4f }, "sum to 7")]
    public void Unexpected_scores_are_refused(float[] score, string message) =>
        Assert.Contains(message, Assert.Throws<CifarModelException>(() => Map(score, "cat")).Message);

    [Fact]
    public void More_than_one_label_is_refused() =>
        Assert.Throws<CifarModelException>(() => Map(new[] { 0.5f, 0.5f }, "cat", "dog"));
}
