using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Cifar.Host.Serving;

/// <summary>What the OpenAPI document says beyond what the endpoints' metadata gives.</summary>
internal static class OpenApiDescription
{
    /// <summary>The one document served; any other name is a 404 like any unknown path.</summary>
    public const string Route = "/openapi/v1.json";

    /// <summary>The content types of a raw image body (multipart/form-data aside).</summary>
    public static readonly string[] RawImageTypes = ["application/octet-stream", "image/*"];

    /// <summary>
    /// No servers: the document does not echo the request's Host header (a client resolves paths against the
    /// document's own address, as OpenAPI says for a document without servers).
    /// </summary>
    public static void Configure(OpenApiOptions options) =>
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Servers = [];
            return Task.CompletedTask;
        });

    /// <summary>A raw body is the image's bytes, not the multipart form's schema the shared metadata gives it.</summary>
    public static Task DescribeRawImageBody(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellation)
    {
        if (operation.RequestBody?.Content is { } content)
            foreach (var type in RawImageTypes)
                content[type] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } };
        return Task.CompletedTask;
    }
}
