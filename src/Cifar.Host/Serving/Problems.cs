using Cifar.Host.Cli;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cifar.Host.Serving;

/// <summary>
/// Every error as problem details JSON, whatever the request's Accept header, and the headers every response carries.
/// A client's fault (a disconnect, a body that cannot be read) is logged as one warning line, not as a failure.
/// </summary>
internal static class Problems
{
    /// <summary>A problem details result: the status, its reason phrase as title, and <paramref name="detail"/>.</summary>
    public static IResult Create(int status, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: ReasonPhrases.GetReasonPhrase(status));

    /// <summary>
    /// Adds, outermost first: the response headers, a JSON problem for a failure of the app (500) and for an empty
    /// error status (404, 405, …), and the handling of clients' faults.
    /// </summary>
    public static void UseProblemsAndHeaders(this IApplicationBuilder app)
    {
        app.Use((context, next) =>
        {
            // Set as the headers go out: the exception handler clears what was set before.
            context.Response.OnStarting(() => AddHeaders(context.Response));
            return next(context);
        });
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = context => Create(StatusCodes.Status500InternalServerError, "the server failed to answer this request; the failure is logged").ExecuteAsync(context),
        });
        app.UseStatusCodePages(context => Create(context.HttpContext.Response.StatusCode, DefaultDetail(context.HttpContext)).ExecuteAsync(context.HttpContext));
        app.Use(HandleClientFaultsAsync);
        app.Use(RefuseOversizedRequests);
    }

    /// <summary>Answers a request target or header block over the app's limits (below Kestrel's) with a problem.</summary>
    private static Task RefuseOversizedRequests(HttpContext context, RequestDelegate next)
    {
        var settings = context.RequestServices.GetRequiredService<ServeSettings>();
        var request = context.Request;
        long target = (request.PathBase + request.Path).ToUriComponent().Length + (request.QueryString.Value?.Length ?? 0);
        if (target > settings.MaxRequestTargetBytes)
            return Create(StatusCodes.Status414UriTooLong, $"the request target is {target} bytes; at most {settings.MaxRequestTargetBytes} are accepted").ExecuteAsync(context);
        long headers = request.Headers.Sum(h => h.Key.Length + 4L + h.Value.Sum(v => (long)(v?.Length ?? 0)));
        if (headers > settings.MaxRequestHeadersBytes)
            return Create(StatusCodes.Status431RequestHeaderFieldsTooLarge, $"the request's headers are {headers} bytes; at most {settings.MaxRequestHeadersBytes} are accepted").ExecuteAsync(context);
        return next(context);
    }

    private static Task AddHeaders(HttpResponse response)
    {
        var headers = response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers.ContentSecurityPolicy = "frame-ancestors 'none'";
        // Pages and answers may change with the model in service: revalidate (static files carry ETags) rather than reuse.
        if (!headers.ContainsKey(Microsoft.Net.Http.Headers.HeaderNames.CacheControl)) headers.CacheControl = "no-cache";
        return Task.CompletedTask;
    }

    private static string DefaultDetail(HttpContext context) => context.Response.StatusCode switch
    {
        StatusCodes.Status404NotFound => $"nothing at {TextEscaping.ControlCharacters(context.Request.Path.Value ?? "/")}",
        StatusCodes.Status405MethodNotAllowed => $"{TextEscaping.ControlCharacters(context.Request.Method)} is not allowed on {TextEscaping.ControlCharacters(context.Request.Path.Value ?? "/")}",
        StatusCodes.Status415UnsupportedMediaType => $"Content-Type {TextEscaping.ControlCharacters(context.Request.ContentType ?? "(none)")} is not accepted here",
        var status => ReasonPhrases.GetReasonPhrase(status),
    };

    private static async Task HandleClientFaultsAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (Exception e) when (ClientFault(e, context) is { } fault)
        {
            var log = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ServeApp).FullName!);
            log.LogWarning("{Method} {Path}: {Fault} (the client's error)", context.Request.Method, TextEscaping.ControlCharacters(context.Request.Path.Value ?? ""), fault.Detail);
            if (fault.Status is { } status && !context.Response.HasStarted)
            {
                context.Response.Clear();
                await Create(status, fault.Detail).ExecuteAsync(context);
            }
        }
    }

    /// <summary>What the client did wrong, or null when <paramref name="e"/> is the app's own failure.</summary>
    /// <returns>The status to answer (null when nobody is listening any more) and why.</returns>
    private static (int? Status, string Detail)? ClientFault(Exception e, HttpContext context)
    {
        if (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
            return (null, $"the client disconnected ({ErrorText.FirstLine(e.Message)})");
        if (e is BadHttpRequestException bad)
            return (bad.StatusCode, bad.StatusCode == StatusCodes.Status413PayloadTooLarge && context.RequestServices.GetService<ServeSettings>() is { } settings
                ? Uploads.RequestTooLarge(settings).Message
                : $"the request cannot be read ({ErrorText.FirstLine(bad.Message)})");
        return null;
    }
}
