namespace Cifar;

/// <summary>Shapes inner exception messages for the one-line errors the product prints.</summary>
internal static class ErrorText
{
    /// <summary>The first line of <paramref name="message"/>, trimmed: native and parser messages often carry a trace below it.</summary>
    public static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}
