using System.Globalization;
using System.Text;

namespace Cifar.Host.Cli;

/// <summary>
/// A problem the user can fix (bad config, argument or input): one line, exit code 2. Control
/// characters in the message (a newline in a file name, say) are escaped, so it stays one line. The exception
/// that revealed the problem, when there is one, is kept as the inner exception: <c>--verbose</c> and train.log show it.
/// </summary>
internal sealed class UserError : Exception
{
    public UserError(string message, Exception? cause = null) : base(TextEscaping.ControlCharacters(message), cause) { }
}

/// <summary>The app's exit codes.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int UserError = 2;
}

/// <summary>
/// How text from outside (file names) is written where a line or a field must stay whole: a tab,
/// newline and carriage return as <c>\t</c>, <c>\n</c>, <c>\r</c>, any other control character as
/// <c>\u00XX</c>; in fields also a backslash as <c>\\</c>, so a field can be read back exactly.
/// </summary>
internal static class TextEscaping
{
    /// <summary>Escapes control characters only (for messages: paths keep their backslashes).</summary>
    public static string ControlCharacters(string text) => Escape(text, backslash: false);

    /// <summary>Escapes control characters and backslashes (for tsv fields and table cells).</summary>
    public static string Field(string text) => Escape(text, backslash: true);

    private static string Escape(string text, bool backslash)
    {
        if (!text.Any(c => char.IsControl(c) || (backslash && c == '\\'))) return text;
        var escaped = new StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            escaped.Append(c switch
            {
                '\\' when backslash => @"\\",
                '\t' => @"\t",
                '\n' => @"\n",
                '\r' => @"\r",
                _ when char.IsControl(c) => string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
                _ => c.ToString(),
            });
        }
        return escaped.ToString();
    }
}
