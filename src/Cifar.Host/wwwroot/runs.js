// The runs page: every run under --runs with its per-epoch metrics and its plots.
"use strict";
const columns = [
  ["epoch", "epoch", v => v],
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

fetch("/api/runs").then(r => r.json()).then(runs => {
  const status = document.getElementById("status");
  status.textContent = runs.length ? `${runs.length} run(s).` : "No runs: start serve with --runs DIR, a folder of train outputs.";
  const list = document.getElementById("runs");
  for (const run of runs) {
    const section = element("section");
    section.className = "run";
    section.append(element("h2", run.name));
    const table = element("table");
    const head = element("tr");
    for (const [, title] of columns) head.append(element("th", title));
    table.append(head);
    for (const epoch of run.epochs) {
      const row = element("tr");
      for (const [key, , format] of columns) row.append(element("td", epoch[key] == null ? "" : format(epoch[key])));
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
    list.append(section);
  }
});
