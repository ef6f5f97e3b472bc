// The runs page: every run under --runs with its per-epoch metrics and its plots.
"use strict";
const columns = [
  ["epoch", "epoch", v => String(v)],
  ["train_loss", "train loss", v => v.toFixed(4)],
  ["train_acc", "train acc", v => (100 * v).toFixed(1) + " %"],
  ["val_loss", "val loss", v => v.toFixed(4)],
  ["val_acc", "val acc", v => (100 * v).toFixed(1) + " %"],
  ["seconds", "seconds", v => v.toFixed(1)],
];

function element(tag, text) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  return e;
}

// The answer's JSON, or an Error saying why there is none: a problem's detail, else the status line (an error page
// from a proxy, say, is not JSON).
async function readJson(response) {
  const isJson = (response.headers.get("Content-Type") || "").includes("json");
  const body = isJson ? await response.json() : null;
  if (response.ok && isJson) return body;
  throw new Error((body && (body.detail || body.title)) || `${response.status} ${response.statusText}`.trim());
}

// A metric as the table shows it: a number formatted, anything else (a file written by hand, say) as its text.
function cell(value, format) {
  if (value == null) return "";
  return typeof value === "number" && Number.isFinite(value) ? format(value) : String(value);
}

function runSection(run) {
  const section = element("section");
  section.className = "run";
  section.append(element("h2", run.name));
  const table = element("table");
  const head = element("tr");
  for (const [, title] of columns) head.append(element("th", title));
  table.append(head);
  for (const epoch of run.epochs) {
    const row = element("tr");
    for (const [key, , format] of columns) row.append(element("td", cell(epoch[key], format)));
    table.append(row);
  }
  section.append(table);
  const plots = element("div");
  plots.className = "plots";
  for (const [kind, url] of Object.entries(run.plots)) {
    const img = element("img");
    img.src = url;
    img.alt = `${run.name}: ${kind}`;
    img.dataset.kind = kind;
    plots.append(img);
  }
  section.append(plots);
  return section;
}

const status = document.getElementById("status");
fetch("/api/runs").then(readJson).then(runs => {
  status.textContent = runs.length ? `${runs.length} run(s).` : "No runs: start serve with --runs DIR, a folder of train outputs.";
  const list = document.getElementById("runs");
  for (const run of runs) {
    // Each run stands alone: one that cannot be shown says so and the others are still listed.
    try {
      list.append(runSection(run));
    } catch (e) {
      const section = element("section");
      section.className = "run";
      section.append(element("h2", String(run && run.name)), element("p", `This run cannot be shown: ${e.message}`));
      list.append(section);
    }
  }
}).catch(e => {
  // Not left on "Loading…": say what went wrong.
  status.textContent = `The runs could not be listed: ${e.message}`;
  status.className = "error";
});
