// The classify page: each picked or dropped image is posted to /api/predict on its own and shown with its top 3.
"use strict";
const results = document.getElementById("results");
const error = document.getElementById("error");

fetch("/api/model").then(r => r.json()).then(m => {
  document.getElementById("model").textContent =
    `Model ${m.file} (SHA-256 ${m.sha256.slice(0, 12)}…): ${m.classes.length} classes, input ${m.input.width}×${m.input.height}.`;
});

function percent(p) { return (100 * p).toFixed(1) + " %"; }

function card(file) {
  const item = document.createElement("li");
  item.className = "card";
  const img = document.createElement("img");
  img.src = URL.createObjectURL(file);
  img.alt = file.name;
  const body = document.createElement("div");
  body.className = "body";
  const name = document.createElement("div");
  name.className = "name";
  name.textContent = file.name;
  const label = document.createElement("div");
  label.className = "label";
  label.textContent = "…";
  body.append(name, label);
  item.append(img, body);
  results.prepend(item);
  return { body, label };
}

async function classify(file) {
  const { body, label } = card(file);
  const form = new FormData();
  form.append("files", file, file.name);
  const response = await fetch("/api/predict", { method: "POST", body: form });
  const answer = await response.json();
  if (!response.ok) {
    label.textContent = "refused";
    error.textContent = answer.detail || answer.title;
    error.hidden = false;
    return;
  }
  const p = answer.predictions[0];
  label.textContent = p.label;
  label.dataset.label = p.label;
  for (const t of p.top3) {
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("i");
    fill.style.width = percent(t.probability).replace(" ", "");
    const text = document.createElement("span");
    text.textContent = `${t.label} ${percent(t.probability)}`;
    bar.append(fill, text);
    body.append(bar);
  }
}

function classifyAll(files) {
  error.hidden = true;
  for (const file of files) classify(file).catch(e => { error.textContent = String(e); error.hidden = false; });
}

const drop = document.getElementById("drop");
const input = document.getElementById("files");
input.addEventListener("change", () => { classifyAll(input.files); input.value = ""; });
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); classifyAll(e.dataTransfer.files); });
