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

/// <summary>
/// Checks the options of one configuration section; the first failed rule throws <see cref="OptionsException"/>
/// with the option's full key. Every options record validates itself with it, so rules and keys exist once.
/// </summary>
/// <param name="section">The section's key (<c>Training</c>, <c>Augmentation:ColorJitter</c>), or "" for top-level options.</param>
public readonly struct OptionChecks(string section)
{
    /// <summary>Throws when <paramref name="ok"/> is false: "Section:name rule (got value)".</summary>
    public OptionChecks Check(bool ok, string name, string rule, object? value)
    {
        if (!ok) throw new OptionsException(Key(name), rule, value);
        return this;
    }

    /// <summary>The full key of option <paramref name="name"/> in this section.</summary>
    public string Key(string name) => section.Length == 0 ? name : $"{section}:{name}";
}
