// The textcnn page: plain JS over the public API (/models, /classify, /classify-image).
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "textcnn-api-key";
const state = { models: [], defaults: {}, rows: [], sort: { key: "i", dir: 1 } };

function headers(extra = {}) {
  const key = sessionStorage.getItem(KEY);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

// The server's own words for a refused request: `message` (422), else `detail`.
function errorText(status, body) {
  if (body && typeof body.message === "string") return `${status}: ${body.message}`;
  if (body && typeof body.detail === "string") return `${status}: ${body.detail}`;
  if (body && body.detail) return `${status}: ${JSON.stringify(body.detail)}`;
  return `${status}: request refused`;
}

async function call(path, options) {
  const started = performance.now();
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error(`network error: ${err.message}`);
  }
  const ms = performance.now() - started;
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (!response.ok) throw new Error(errorText(response.status, body));
  return { body, ms };
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// -- models ------------------------------------------------------------------------------
function modelFor(modality) {
  const picked = state.models.find((m) => m.name === $("model").value);
  if (picked && picked.modality === modality) return picked.name;
  return state.defaults[modality];
}

function showModel() {
  const info = $("model-info");
  info.replaceChildren();
  const m = state.models.find((x) => x.name === $("model").value);
  if (!m) return;
  const dl = el("dl");
  const add = (term, value) => {
    dl.append(el("dt", {}, term), el("dd", {}, value));
  };
  add("Version", m.version || "(none loaded)");
  add("Kind", [m.modality, m.arch].filter(Boolean).join(", ") || "-");
  add("Labels", (m.labels || []).join(", ") || "-");
  const metrics = Object.entries(m.metrics || {})
    .map(([k, v]) => `${k} ${typeof v === "number" ? +v.toFixed(4) : v}`)
    .join(" · ");
  add("Training metrics", metrics || "-");
  if (m.error) add("Problem", m.error);
  info.append(dl);
  const link = $("report-link");
  link.href = `/models/${encodeURIComponent(m.name)}/report`;
  link.textContent = `Report of ${m.name} ${m.version || ""}`.trim();
  link.hidden = !m.version;
  $("text-section").hidden = !modelFor("text");
  $("batch-section").hidden = !modelFor("text");
  $("image-section").hidden = !modelFor("image");
}

async function loadModels() {
  try {
    const { body } = await call("/models", { headers: headers() });
    state.models = body.models;
    state.defaults = body.defaults || {};
    const select = $("model");
    select.replaceChildren();
    for (const m of body.models) {
      const label = `${m.name} (${m.modality || "?"}, ${m.version || m.state})`;
      select.append(el("option", { value: m.name }, label));
    }
    const first = body.models.find((m) => m.name === state.defaults.text) || body.models[0];
    if (first) select.value = first.name;
    showModel();
  } catch (err) {
    $("model-info").textContent = err.message;
  }
}

// -- results -----------------------------------------------------------------------------
function bars(target, scores) {
  target.replaceChildren();
  const list = el("ol", { class: "bar-list" });
  for (const { label, score } of [...scores].sort((a, b) => b.score - a.score)) {
    const pct = (100 * score).toFixed(1);
    const item = el("li", { class: "bar" });
    item.append(el("span", { class: "bar-label" }, label));
    const track = el("span", { class: "bar-track", role: "img", "aria-label": `${pct}%` });
    const fill = el("span", { class: "bar-fill" });
    fill.style.width = `${pct}%`;
    track.append(fill);
    item.append(track, el("span", { class: "bar-value" }, `${pct}%`));
    list.append(item);
  }
  target.append(list);
}

function meta(target, body, ms) {
  target.textContent = `${body.model} ${body.version} · ${ms.toFixed(0)} ms`;
}

// The tokens again, each winning n-gram a <mark> tinted by its share of the largest one.
function highlight(target, explanation) {
  target.replaceChildren();
  if (!explanation) return;
  const { tokens, ngrams } = explanation;
  const top = Math.max(...ngrams.map((n) => n.contribution), 1e-9);
  const cover = new Array(tokens.length).fill(null);
  for (const n of [...ngrams].sort((a, b) => a.contribution - b.contribution)) {
    for (let t = n.start; t < n.end && t < tokens.length; t++) cover[t] = n;
  }
  let i = 0;
  while (i < tokens.length) {
    const n = cover[i];
    let j = i + 1;
    while (j < tokens.length && cover[j] === n) j++;
    const words = tokens.slice(i, j).join(" ");
    if (n && n.contribution > 0) {
      const mark = el("mark", { title: `${n.ngram}: +${n.contribution.toFixed(3)}` }, words);
      mark.style.setProperty("--alpha", (0.2 + 0.8 * (n.contribution / top)).toFixed(2));
      target.append(mark);
    } else {
      target.append(document.createTextNode(words));
    }
    target.append(document.createTextNode(" "));
    i = j;
  }
}

// -- text --------------------------------------------------------------------------------
let typing = null;
let sequence = 0;

function topK() {
  const k = Number($("top-k").value);
  return k > 0 ? k : undefined;
}

async function classifyText() {
  const text = $("text").value;
  const mine = ++sequence;
  $("text-error").textContent = "";
  if (!text.trim()) {
    $("text-bars").replaceChildren();
    $("highlight").replaceChildren();
    $("text-meta").textContent = "";
    return;
  }
  const model = modelFor("text");
  const info = state.models.find((m) => m.name === model);
  // highlights where the model has explanations (not with a sentence encoder's term)
  const payload = { text, explain: !info || info.explainable, top_k: topK(), model };
  try {
    const { body, ms } = await call("/classify", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(payload),
    });
    if (mine !== sequence) return; // a later keystroke's answer wins
    const result = body.results[0];
    bars($("text-bars"), result.scores);
    highlight($("highlight"), result.explanation);
    meta($("text-meta"), body, ms);
  } catch (err) {
    if (mine === sequence) $("text-error").textContent = err.message;
  }
}

// -- batch -------------------------------------------------------------------------------
function renderRows() {
  const { key, dir } = state.sort;
  const rows = [...state.rows].sort((a, b) =>
    a[key] < b[key] ? -dir : a[key] > b[key] ? dir : 0,
  );
  const body = $("batch-table").tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const tr = el("tr");
    tr.append(el("td", {}, String(r.i)), el("td", {}, r.text), el("td", {}, r.label));
    tr.append(el("td", {}, r.score.toFixed(3)));
    body.append(tr);
  }
  for (const th of $("batch-table").tHead.rows[0].cells) {
    const k = th.firstElementChild.dataset.key;
    th.setAttribute("aria-sort", k === key ? (dir > 0 ? "ascending" : "descending") : "none");
  }
}

async function classifyBatch() {
  const texts = $("batch").value.split("\n").filter((line) => line.trim());
  $("batch-error").textContent = "";
  if (!texts.length) return;
  try {
    const { body, ms } = await call("/classify", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ texts, model: modelFor("text") }),
    });
    state.rows = body.results.map((r, i) => ({ i: i + 1, text: texts[i], ...r }));
    renderRows();
    meta($("batch-meta"), body, ms);
    $("batch-csv").disabled = false;
  } catch (err) {
    $("batch-error").textContent = err.message;
  }
}

function csvCell(value) {
  const s = String(value);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function downloadCsv() {
  const lines = [["line", "text", "label", "score"].join(",")];
  for (const r of state.rows) lines.push([r.i, r.text, r.label, r.score].map(csvCell).join(","));
  const url = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
  const a = el("a", { href: url, download: "textcnn-batch.csv" });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

// -- image -------------------------------------------------------------------------------
async function classifyImage(file) {
  $("image-error").textContent = "";
  $("image-bars").replaceChildren();
  $("image-meta").textContent = "";
  const preview = $("preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  const form = new FormData();
  form.append("file", file);
  const model = modelFor("image");
  const query = model ? `?model=${encodeURIComponent(model)}` : "";
  try {
    const { body, ms } = await call(`/classify-image${query}`, {
      method: "POST",
      headers: headers(),
      body: form,
    });
    bars($("image-bars"), body.results[0].scores.slice(0, topK() || undefined));
    meta($("image-meta"), body, ms);
  } catch (err) {
    $("image-error").textContent = err.message;
  }
}

// -- wiring ------------------------------------------------------------------------------
function init() {
  const key = $("api-key");
  key.value = sessionStorage.getItem(KEY) || "";
  key.addEventListener("change", () => {
    if (key.value) sessionStorage.setItem(KEY, key.value);
    else sessionStorage.removeItem(KEY);
    loadModels();
  });
  $("model").addEventListener("change", () => {
    showModel();
    classifyText();
  });
  $("text").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(classifyText, 300);
  });
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      clearTimeout(typing);
      classifyText();
    }
  });
  $("top-k").addEventListener("change", classifyText);
  $("batch-run").addEventListener("click", classifyBatch);
  $("batch-csv").addEventListener("click", downloadCsv);
  for (const button of document.querySelectorAll("#batch-table th button")) {
    button.addEventListener("click", () => {
      const k = button.dataset.key;
      state.sort = { key: k, dir: state.sort.key === k ? -state.sort.dir : 1 };
      renderRows();
    });
  }
  $("image").addEventListener("change", (event) => {
    if (event.target.files[0]) classifyImage(event.target.files[0]);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files[0]) classifyImage(event.dataTransfer.files[0]);
  });
  loadModels();
}

init();
