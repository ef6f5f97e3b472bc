using Microsoft.AspNetCore.Http;

namespace Cifar.Host.Cli;

/// <summary>
/// <c>serve --urls</c>, checked before anything is loaded: Kestrel takes an empty list as its own default address and
/// reports a port out of range as an exception of no particular kind. What Kestrel reports well when it binds (an
/// unknown scheme, an address in use) is left to it.
/// </summary>
internal static class ServeUrls
{
    public static string Check(string urls)
    {
        var addresses = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (addresses.Length == 0) throw new UserError($"--urls '{urls}': no URL in it (e.g. http://127.0.0.1:5000)");
        foreach (var url in addresses)
        {
            BindingAddress address;
            try
            {
                address = BindingAddress.Parse(url);
            }
            catch (FormatException e)
            {
                throw new UserError($"--urls {url}: not a URL ({ErrorText.FirstLine(e.Message)})", e);
            }
            if (!address.IsUnixPipe && !address.IsNamedPipe && address.Port is < 0 or > 65535)
                throw new UserError($"--urls {url}: port {address.Port} is outside 0–65535");
        }
        return urls;
    }
}
