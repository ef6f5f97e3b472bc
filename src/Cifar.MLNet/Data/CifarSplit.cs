namespace Cifar.MLNet.Data;

/// <summary>A CIFAR-10 split.</summary>
public enum CifarSplit
{
    /// <summary>The 50,000 training images.</summary>
    Train,
    /// <summary>The 10,000 test images.</summary>
    Test,
}

/// <summary>A problem with the data on disk; its message names the file or folder and what is wrong.</summary>
public sealed class CifarDataException : Exception
{
    /// <summary>Creates the exception with a one-line message.</summary>
    public CifarDataException(string message) : base(message) { }
}
