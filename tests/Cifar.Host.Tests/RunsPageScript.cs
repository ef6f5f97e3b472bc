using System.Diagnostics;
using System.Text.Json;
using Cifar.Host.Serving;
using Cifar.Tests;

namespace Cifar.Host.Tests;

/// <summary>
/// Runs the runs page's script (the embedded runs.js) under node with the few DOM calls it makes stubbed, on a
/// listing the test gives, and returns what it rendered: the status line and, per run, its name and table cells.
/// Skips the test when node is not installed.
/// </summary>
internal static class RunsPageScript
{
    private const string Harness = """
        const listing = JSON.parse(require("fs").readFileSync(process.argv[3], "utf8"));
        function element(tag) {
          return { tag, children: [], dataset: {}, textContent: "", className: "", append(...c) { this.children.push(...c); } };
        }
        const nodes = { status: element("p"), runs: element("div") };
        globalThis.document = { createElement: element, getElementById: id => nodes[id] };
        globalThis.fetch = async () => ({ ok: true, status: 200, statusText: "OK", headers: { get: () => "application/json" }, json: async () => listing });
        process.on("beforeExit", () => {
          const runs = nodes.runs.children.map(section => ({
            name: section.children[0].textContent,
            rows: (section.children.find(c => c.tag === "table") || { children: [] }).children.slice(1).map(row => row.children.map(cell => cell.textContent)),
          }));
          console.log(JSON.stringify({ status: nodes.status.textContent, runs }));
        });
        require(process.argv[2]);
        """;

    public static JsonElement Render(TestData.TempFolder dir, string listing)
    {
        var node = TestData.RequireNode();
        var script = dir.File("runs.js");
        using (var page = typeof(ServeApp).Assembly.GetManifestResourceStream("wwwroot.runs.js")!)
        using (var file = File.Create(script))
            page.CopyTo(file);
        File.WriteAllText(dir.File("harness.js"), Harness);
        File.WriteAllText(dir.File("listing.json"), listing);
        var start = new ProcessStartInfo(node) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { dir.File("harness.js"), script, dir.File("listing.json") }) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "node did not finish within 60 s");
        Assert.True(process.ExitCode == 0, $"node: {errors.Result}");
        return JsonDocument.Parse(output.Result).RootElement;
    }
}
