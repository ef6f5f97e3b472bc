using System.Globalization;

namespace Cifar.Host.Cli;

/// <summary>A parsed command line: the command, its options, positional arguments and config overrides.</summary>
internal sealed class CommandLine
{
    public const string Usage = """
        usage:
          cifar train --config FILE [--config FILE ...] --output DIR [--Section:Key=value ...]
          cifar train --resume --output DIR      (continues from DIR/checkpoint.bin with DIR/config.json)
          cifar evaluate --model model.zip [--split test|train] [--data ROOT] [--limit N]
          cifar predict --model model.zip [--format table|tsv|json] IMAGE...
          cifar serve --model model.zip [--runs DIR] [--urls URL] [--Serve:Limit=value ...]   (HTTP API and page; default http://127.0.0.1:5000)
          cifar export --model model.zip --onnx FILE   (one standalone ONNX model for ONNX Runtime, without ML.NET)
          cifar quantize --model model.zip --output int8.zip [--data ROOT] [--calibration-images N] [--max-accuracy-drop POINTS] [--limit N] [--weight-bits 7|8]
                                                 (an int8 copy, written only if its test accuracy is within 0.3 points)
        Later config files override earlier ones; CIFAR_Section__Key environment variables and
        --Section:Key=value arguments override the files. --verbose prints an error's full exception
        (a train run's log has the exceptions raised while it runs). Exit codes: 0 ok, 2 user error, 1 other.
        predict --format tsv writes one line per image: path, class, probability, separated by tabs; in
        tsv and table output a backslash, tab, newline or carriage return in a name is written \\, \t,
        \n or \r (other control characters \u00XX), and json holds names as JSON strings. Error
        messages escape control characters the same way, so each stays one line. Images whose header
        declares more than 16.8 megapixels (4096×4096) are refused before decoding.
        """;

    private static readonly Dictionary<string, (string[] Valued, string[] Flags)> Commands = new()
    {
        ["train"] = (new[] { "config", "output" }, new[] { "resume" }),
        ["evaluate"] = (new[] { "model", "split", "data", "limit" }, Array.Empty<string>()),
        ["predict"] = (new[] { "model", "format" }, Array.Empty<string>()),
        ["serve"] = (new[] { "model", "runs", "urls" }, Array.Empty<string>()),
        ["export"] = (new[] { "model", "onnx" }, Array.Empty<string>()),
        ["quantize"] = (new[] { "model", "output", "data", "calibration-images", "max-accuracy-drop", "limit", "weight-bits" }, Array.Empty<string>()),
    };

    private CommandLine(string command) => Command = command;

    public string Command { get; }
    public Dictionary<string, List<string>> Options { get; } = new(StringComparer.OrdinalIgnoreCase);
    public HashSet<string> Flags { get; } = new(StringComparer.OrdinalIgnoreCase);
    public List<string> Positional { get; } = new();
    public List<KeyValuePair<string, string>> Overrides { get; } = new();

    public string? Single(string option) =>
        Options.TryGetValue(option, out var values) ? values.Count == 1 ? values[0]
            : throw new UserError($"--{option} was given {values.Count} times") : null;

    public string Required(string option) =>
        Single(option) ?? throw new UserError($"{Command}: --{option} is required");

    /// <summary>A whole-number option (sign allowed, nothing else), or null when not given.</summary>
    public int? WholeNumber(string option) =>
        Single(option) is { } text
            ? int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n
                : throw new UserError($"--{option} must be a whole number (got '{text}')")
            : null;

    public IReadOnlyList<string> All(string option) => Options.TryGetValue(option, out var v) ? v : new List<string>();

    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0 || args[0] is "-h" or "--help" or "help") return new CommandLine("help");
        if (!Commands.TryGetValue(args[0], out var known))
            throw new UserError($"unknown command '{args[0]}' (commands: train, evaluate, predict, serve, export, quantize; --help for usage)");
        var parsed = new CommandLine(args[0]);
        for (int i = 1; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                // Everything after "--" is positional, e.g. image paths that start with "--".
                parsed.Positional.AddRange(args.Skip(i + 1));
                break;
            }
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                parsed.Positional.Add(arg);
                continue;
            }
            var body = arg[2..];
            string? inlineValue = null;
            int eq = body.IndexOf('=');
            if (eq >= 0) (body, inlineValue) = (body[..eq], body[(eq + 1)..]);
            if (body.Contains(':'))
            {
                var value = inlineValue ?? (i + 1 < args.Count ? args[++i] : throw new UserError($"--{body} needs a value"));
                parsed.Overrides.Add(new(body, value));
            }
            else if (known.Flags.Contains(body, StringComparer.OrdinalIgnoreCase) || body.Equals("verbose", StringComparison.OrdinalIgnoreCase))
            {
                if (inlineValue is not null) throw new UserError($"--{body} takes no value");
                parsed.Flags.Add(body);
            }
            else if (known.Valued.Contains(body, StringComparer.OrdinalIgnoreCase))
            {
                var value = inlineValue ?? (i + 1 < args.Count ? args[++i] : throw new UserError($"--{body} needs a value"));
                // Every option names a file, folder, number or choice: an empty one is never meant (an unset shell variable, say).
                if (value.Length == 0) throw new UserError($"--{body} needs a value (got an empty string)");
                if (!parsed.Options.TryGetValue(body, out var list)) parsed.Options[body] = list = new List<string>();
                list.Add(value);
            }
            else
            {
                throw new UserError($"{parsed.Command}: unknown option '--{body}' (--help for usage)");
            }
        }
        return parsed;
    }
}
