using Cifar.Host.Cli;
using Cifar.Host.Serving;

namespace Cifar.Host.Tests;

/// <summary><c>cifar serve --Serve:Name=value</c>: every limit can be set, by name, with its kind and range checked.</summary>
public class ServeSettingsTests
{
    private static readonly ServeSettings Defaults = new("model.zip", null);

    private static KeyValuePair<string, string> Set(string key, string value) => KeyValuePair.Create(key, value);

    [Fact]
    public void Limits_set_on_the_command_line_replace_the_defaults_and_leave_the_rest()
    {
        var set = Defaults.With([Set("Serve:MaxImages", "4"), Set("serve:maxpredictionwait", "2.5"), Set("Serve:MaxBufferedBytes", "1073741824"),
            Set("Serve:ReleaseMemoryAfterIdle", "0")]);

        Assert.Equal(Defaults with
        {
            MaxImages = 4, MaxPredictionWait = TimeSpan.FromSeconds(2.5), MaxBufferedBytes = 1L << 30, ReleaseMemoryAfterIdle = TimeSpan.Zero,
        }, set);
        Assert.Equal(Defaults, Defaults.With([]));
    }

    [Theory]
    [InlineData("Serve:MaxImages", "0", "--Serve:MaxImages must be a whole number of 1 or more (got '0')")]
    [InlineData("Serve:MaxImages", "3000000000", "--Serve:MaxImages must be a whole number of 1 or more (got '3000000000')")]
    [InlineData("Serve:MaxImageBytes", "8MB", "--Serve:MaxImageBytes must be a whole number of 1 or more (got '8MB')")]
    [InlineData("Serve:MaxPredictionWait", "0", "--Serve:MaxPredictionWait must be a number of seconds greater than 0 (got '0')")]
    [InlineData("Serve:MaxPredictionWait", "1e-300", "--Serve:MaxPredictionWait must be a number of seconds greater than 0 (got '1e-300')")]
    [InlineData("Serve:ReleaseMemoryAfterIdle", "-1", "--Serve:ReleaseMemoryAfterIdle must be a number of seconds (0: never) (got '-1')")]
    public void Values_out_of_range_are_refused_naming_the_setting(string key, string value, string message) =>
        Assert.Equal(message, Assert.Throws<UserError>(() => Defaults.With([Set(key, value)])).Message);

    [Fact]
    public void Limits_are_numbers_as_the_app_reads_every_number_given_as_text()
    {
        // A sign; for seconds decimals and an exponent; a whole number in exponent form is refused, as config overrides do.
        Assert.Equal(Defaults with { MaxImages = 4, MaxPredictionWait = TimeSpan.FromSeconds(20) },
            Defaults.With([Set("Serve:MaxImages", "+4"), Set("Serve:MaxPredictionWait", "2e1")]));
        Assert.Equal("--Serve:MaxImages must be a whole number of 1 or more (got '4e0')",
            Assert.Throws<UserError>(() => Defaults.With([Set("Serve:MaxImages", "4e0")])).Message);
        Assert.Equal("--Serve:MaxPredictionWait must be a number of seconds greater than 0 (got ' 2')",
            Assert.Throws<UserError>(() => Defaults.With([Set("Serve:MaxPredictionWait", " 2")])).Message);
    }

    [Theory]
    [InlineData("Serve:MaxImage")]
    [InlineData("Training:Epochs")]
    [InlineData("Serve:ModelPath")]
    public void Unknown_settings_and_other_sections_are_refused_listing_the_settings(string key)
    {
        var message = Assert.Throws<UserError>(() => Defaults.With([Set(key, "1")])).Message;
        Assert.StartsWith($"serve: unknown setting '--{key}' (settings: Serve:MaxImageBytes, Serve:MaxRequestBytes, Serve:MaxImages,", message);
    }
}
