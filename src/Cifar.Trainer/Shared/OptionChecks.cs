namespace Cifar;

/// <summary>
/// Checks the options of one configuration section; the first failed rule throws <see cref="OptionsException"/>
/// with the option's full key. Every options record validates itself with it, so rules and keys exist once.
/// </summary>
/// <param name="section">The section's key (<c>Training</c>, <c>Augmentation:ColorJitter</c>), or "" for top-level options.</param>
internal readonly struct OptionChecks(string section)
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
