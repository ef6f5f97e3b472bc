using System.Globalization;

namespace Cifar.Host.Configuration;

/// <summary>
/// Numbers given as text (the command line, environment variables): spelled as JSON spells them, invariant culture,
/// a sign and, for numbers that need not be whole, decimals and an exponent; no spaces, no infinities. The one parser
/// for every setting the app reads as text.
/// </summary>
internal static class ConfigNumbers
{
    /// <summary>A whole number: digits with an optional sign (<c>1e3</c> is refused).</summary>
    public static bool TryWholeNumber(string text, out long value) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    /// <summary>A finite number: a sign, digits, decimals, an exponent.</summary>
    public static bool TryNumber(string text, out double value) =>
        double.TryParse(text, NumberStyles.Float & ~NumberStyles.AllowLeadingWhite & ~NumberStyles.AllowTrailingWhite,
            CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
}
