namespace Cifar.Host.Cli;

/// <summary>A problem the user can fix (bad config, argument or input): one line, exit code 2.</summary>
public sealed class UserError : Exception
{
    public UserError(string message) : base(message) { }
}

/// <summary>The app's exit codes.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int UserError = 2;
}
