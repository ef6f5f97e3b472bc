using System.Globalization;

namespace Cifar;

/// <summary>
/// An option out of range. <see cref="Key"/> is the option's configuration key (<c>Training:LearningRate</c>), the same
/// whether the value came from a config file, an override or code, so every caller reports it the same way.
/// </summary>
public sealed class OptionsException : ArgumentException
{
    /// <summary>Creates the exception: "<paramref name="key"/> <paramref name="rule"/> (got <paramref name="value"/>)".</summary>
    public OptionsException(string key, string rule, object? value)
        : base($"{key} {rule} (got {Format(value)})")
    {
        Key = key;
        Rule = rule;
        Value = Format(value);
    }

    /// <summary>The option's key, sections separated by ':' (e.g. <c>Augmentation:ColorJitter:Hue</c>).</summary>
    public string Key { get; }

    /// <summary>What the value must be (e.g. "must be greater than 0").</summary>
    public string Rule { get; }

    /// <summary>The value given, formatted for a message.</summary>
    public string Value { get; }

    /// <summary>A value as messages show it: invariant numbers, quoted strings, lists in brackets.</summary>
    public static string Format(object? value) => value switch
    {
        null => "nothing",
        string s => $"'{s}'",
        System.Collections.IEnumerable list => $"[{string.Join(", ", list.Cast<object?>().Select(Format))}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
