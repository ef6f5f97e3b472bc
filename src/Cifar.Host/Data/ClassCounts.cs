using System.Globalization;
using System.Text;
using Cifar.Host.Cli;

namespace Cifar.Host.Data;

/// <summary>
/// Images per class in a run's training and validation data: the table train.log always gets, what the console says
/// when the classes are unbalanced, and the classes a part has no image of.
/// </summary>
/// <param name="Classes">Class names, in key order.</param>
/// <param name="Train">Training images per class.</param>
/// <param name="Validation">Validation images per class.</param>
internal sealed record ClassCounts(IReadOnlyList<string> Classes, IReadOnlyList<long> Train, IReadOnlyList<long> Validation)
{
    /// <summary>Up to this many classes the console shows the whole table; beyond, the ranges (the table is in train.log).</summary>
    public const int ConsoleTableLimit = 20;

    /// <summary>Names listed in a warning before "and N more".</summary>
    public const int NamesListed = 10;

    public long TrainTotal => Train.Sum();
    public long ValidationTotal => Validation.Sum();

    /// <summary>Whether some class has more images than another in either part.</summary>
    public bool Unbalanced => Train.Distinct().Count() > 1 || Validation.Distinct().Count() > 1;

    /// <summary>"images per class (training / validation):" and one aligned line per class.</summary>
    public string Table()
    {
        var names = Classes.Select(TextEscaping.ControlCharacters).ToArray();
        int width = names.Max(n => n.Length), digits = Train.Max().ToString(CultureInfo.InvariantCulture).Length;
        var text = new StringBuilder("images per class (training / validation):");
        for (int i = 0; i < names.Length; i++)
            text.Append(CultureInfo.InvariantCulture, $"\n  {names[i].PadRight(width)}  {Train[i].ToString(CultureInfo.InvariantCulture).PadLeft(digits)} / {Validation[i]}");
        return text.ToString();
    }

    /// <summary>What the console says of unbalanced classes: nothing when balanced.</summary>
    public string? ConsoleReport() => !Unbalanced ? null
        : Classes.Count <= ConsoleTableLimit ? $"unbalanced classes; {Table()}"
        : string.Create(CultureInfo.InvariantCulture,
            $"unbalanced classes: {Train.Min()} to {Train.Max()} training, {Validation.Min()} to {Validation.Max()} validation images per class (per class in train.log)");

    /// <summary>One warning per part that lacks some class: "no validation images for 2 classes: a, b".</summary>
    public IEnumerable<string> Missing()
    {
        foreach (var (part, counts) in new[] { ("training", Train), ("validation", Validation) })
        {
            var empty = Classes.Where((_, i) => counts[i] == 0).Select(TextEscaping.ControlCharacters).ToArray();
            if (empty.Length == 0) continue;
            var listed = string.Join(", ", empty.Take(NamesListed)) + (empty.Length > NamesListed ? $" and {empty.Length - NamesListed} more" : "");
            yield return $"no {part} images for {empty.Length} class{(empty.Length == 1 ? "" : "es")}: {listed}";
        }
    }
}
