// The classify page: each picked or dropped image is posted to /api/predict on its own and shown with its top 3.
"use strict";
const results = document.getElementById("results");
const error = document.getElementById("error");
const model = document.getElementById("model");

// The answer's JSON, or an Error saying why there is none: a problem's detail, else the status line (an error page
// from a proxy, say, is not JSON).
async function readJson(response) {
  const isJson = (response.headers.get("Content-Type") || "").includes("json");
  const body = isJson ? await response.json() : null;
  if (response.ok && isJson) return body;
  throw new Error((body && (body.detail || body.title)) || `${response.status} ${response.statusText}`.trim());
}

function showError(text) {
  error.textContent = text;
  error.hidden = false;
}

fetch("/api/model").then(readJson).then(m => {
  model.textContent =
    `Model ${m.file} (SHA-256 ${m.sha256.slice(0, 12)}…): ${m.classes.length} classes, input ${m.input ? `${m.input.width}×${m.input.height} ${m.input.channels === 1 ? "grey" : "RGB"}` : "of its own"}.`;
}).catch(e => {
  model.textContent = `The model could not be described: ${e.message}`;
  model.className = "error";
});

function percent(p) { return (100 * p).toFixed(1) + " %"; }

function card(file) {
  const item = document.createElement("li");
  item.className = "card";
  const img = document.createElement("img");
  // The thumbnail keeps its pixels once decoded: the file's URL is let go then (or when it fails to decode).
  img.onload = img.onerror = () => URL.revokeObjectURL(img.src);
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
  let answer;
  try {
    answer = await readJson(await fetch("/api/predict", { method: "POST", body: form }));
  } catch (e) {
    // Refused (a problem's detail names the file) or not answered at all (the server is gone).
    label.textContent = "refused";
    showError(e instanceof TypeError ? `${file.name}: no answer from the server (${e.message})` : e.message);
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
  for (const file of files) classify(file).catch(e => showError(String(e)));
}

const drop = document.getElementById("drop");
const input = document.getElementById("files");
input.addEventListener("change", () => { classifyAll(input.files); input.value = ""; });
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); classifyAll(e.dataTransfer.files); });
