using Cifar.Host.Cli;
using Cifar.MLNet.Prediction;

namespace Cifar.Host.Commands;

/// <summary>Opens a model zip for evaluate and predict, turning every problem into a one-line user error.</summary>
internal static class ModelOpener
{
    public static CifarModel Open(string path)
    {
        try
        {
            return CifarModel.Load(path);
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new UserError(e.Message, e);
        }
    }
}
