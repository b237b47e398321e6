// The page of `kerascnn serve`. It calls only TF Serving's public REST API (plus /ui/models.json
// for the model names, which that API cannot list), so every request it makes can be shown as
// the curl command that makes it. Plain JavaScript, no libraries, no build step.
"use strict";

const GRADCAM = "serving_gradcam";
const DEFAULT = "serving_default";
const CLASS_NAMES = "class_names";
const OVERLAY = "heatmap_png_bytes";

const state = {
  models: [],        // [{name, version_labels, status}]
  model: null,       // name
  versionPath: "",   // "", "/versions/N" or "/labels/L"
  signatures: {},    // from metadata
  classNames: null,
  image: null,       // {b64, name}
  predictLatency: null,
  top: [],
  explained: null,
  generation: 0,     // bumped by each prediction: answers to older ones are dropped
  explanation: 0,    // bumped by each Grad-CAM request: only the last one is shown
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------- talking to the API
function shellQuote(text) {
  return "'" + String(text).replace(/'/g, "'\\''") + "'";
}

function curlFor(method, path, body) {
  const url = window.location.origin + path;
  const parts = ["curl -sS"];
  if (method !== "GET") parts.push("-X " + method);
  parts.push(shellQuote(url));
  if (body !== undefined) {
    parts.push("-H 'Content-Type: application/json'");
    parts.push("-d " + shellQuote(JSON.stringify(body)));
  }
  return parts.join(" ");
}

class ApiError extends Error {}

// One request; returns {json, ms, curl}. Errors become ApiError with a sentence for people.
async function api(method, path, body) {
  const started = performance.now();
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : {"Content-Type": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(`Cannot reach the server at ${window.location.origin} (${err.message}). ` +
                       "Is kerascnn serve still running?");
  }
  const ms = performance.now() - started;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (err) {
    json = null;
  }
  if (!response.ok) {
    const reason = json && json.error ? json.error : (text || response.statusText);
    throw new ApiError(`${method} ${path} failed with HTTP ${response.status}: ${reason}`);
  }
  return {json, ms, curl: curlFor(method, path, body)};
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function modelPath() {
  return `/v1/models/${encodeURIComponent(state.model)}${state.versionPath}`;
}

// ---------------------------------------------------------------------------- models and versions
async function loadModels() {
  const listing = await api("GET", "/ui/models.json");
  state.models = listing.json.models;
  const rows = await Promise.all(state.models.map(async (model) => {
    try {
      const status = await api("GET", `/v1/models/${encodeURIComponent(model.name)}`);
      model.status = status.json.model_version_status || [];
    } catch (err) {
      model.status = [];
      model.statusError = err.message;
    }
    return model;
  }));
  renderModelTable(rows);
  const select = $("model");
  select.replaceChildren(...rows.map((m) => new Option(m.name, m.name)));
  if (rows.length) {
    await chooseModel(rows[0].name);
  } else {
    showError("This server holds no models.");
  }
}

function renderModelTable(models) {
  const body = $("models").tBodies[0];
  body.replaceChildren();
  for (const model of models) {
    const row = body.insertRow();
    row.insertCell().textContent = model.name;
    const versions = row.insertCell();
    if (model.statusError) {
      versions.textContent = model.statusError;
      versions.className = "error";
    }
    for (const v of model.status || []) {
      const item = document.createElement("div");
      const badge = document.createElement("span");
      badge.className = `state-${v.state}`;
      badge.textContent = v.state;
      item.append(`version ${v.version}: `, badge);
      const problem = v.status && v.status.error_message;
      if (problem) item.append(` (${problem})`);
      versions.append(item);
    }
    const labels = Object.entries(model.version_labels || {});
    row.insertCell().textContent = labels.length
      ? labels.map(([label, version]) => `${label} \u2192 ${version}`).join(", ") : "\u2014";
  }
}

async function chooseModel(name) {
  state.model = name;
  const model = state.models.find((m) => m.name === name);
  const options = [new Option("newest", "")];
  for (const v of model.status || []) {
    if (v.state === "AVAILABLE") options.push(new Option(`version ${v.version}`, `/versions/${v.version}`));
  }
  for (const [label, version] of Object.entries(model.version_labels || {})) {
    options.push(new Option(`label ${label} (${version})`, `/labels/${encodeURIComponent(label)}`));
  }
  $("version").replaceChildren(...options);
  state.versionPath = "";
  await loadMetadata();
}

// ---------------------------------------------------------------------------- signatures, labels
function shapeText(tensor) {
  const dims = (tensor.tensor_shape && tensor.tensor_shape.dim) || [];
  if (tensor.tensor_shape && tensor.tensor_shape.unknown_rank) return "?";
  return "[" + dims.map((d) => d.size).join(", ") + "]";
}

function tensorList(tensors) {
  return Object.entries(tensors || {})
    .map(([alias, t]) => `${alias} ${(t.dtype || "").replace("DT_", "").toLowerCase()}${shapeText(t)}`)
    .join(", ");
}

async function loadMetadata() {
  showError("");
  state.signatures = {};
  state.classNames = null;
  try {
    const meta = await api("GET", modelPath() + "/metadata");
    const defs = meta.json.metadata.signature_def.signature_def;
    for (const [name, sig] of Object.entries(defs)) {
      if (!name.startsWith("__")) state.signatures[name] = sig;
    }
  } catch (err) {
    showError(err.message);
  }
  renderSignatures();
  await loadClassNames();
  $("no-gradcam").hidden = !state.model || GRADCAM in state.signatures || !Object.keys(state.signatures).length;
  if (state.image) await predict();
}

function renderSignatures() {
  const box = $("signatures");
  box.replaceChildren();
  const names = Object.keys(state.signatures).sort();
  $("signature-count").textContent = `(${names.length})`;
  for (const name of names) {
    const sig = state.signatures[name];
    const item = document.createElement("div");
    item.className = "signature";
    const title = document.createElement("strong");
    title.textContent = name;
    const io = document.createElement("div");
    const code = document.createElement("code");
    code.textContent = `${tensorList(sig.inputs)} \u2192 ${tensorList(sig.outputs)}`;
    io.append(code);
    item.append(title, io);
    box.append(item);
  }
}

function classCount() {
  const sig = state.signatures[DEFAULT];
  const probs = sig && sig.outputs && sig.outputs.probabilities;
  const dims = probs && probs.tensor_shape && probs.tensor_shape.dim;
  return dims && dims.length === 2 ? Number(dims[1].size) : null;
}

async function loadClassNames() {
  const list = $("labels");
  list.replaceChildren();
  $("label-count").textContent = "";
  const count = classCount();
  if (!(CLASS_NAMES in state.signatures) || !count || count < 1) return;
  const ids = Array.from({length: count}, (_, i) => i);
  try {
    const answer = await api("POST", modelPath() + ":predict",
                             {signature_name: CLASS_NAMES, instances: ids});
    state.classNames = answer.json.predictions.map((p) => (typeof p === "object" ? p.label : p));
  } catch (err) {
    showError(err.message);
    return;
  }
  $("label-count").textContent = `(${state.classNames.length})`;
  list.replaceChildren(...state.classNames.map((name) => {
    const item = document.createElement("li");
    item.textContent = name;
    return item;
  }));
}

// ---------------------------------------------------------------------------- images
function readImage(file) {
  if (!file) return;
  const reader = new FileReader();
  reader.onerror = () => showError(`Cannot read ${file.name}: ${reader.error}`);
  reader.onload = async () => {
    const url = String(reader.result);
    state.image = {b64: url.slice(url.indexOf(",") + 1), name: file.name};
    $("preview").src = url;
    $("preview").alt = `the chosen image, ${file.name}`;
    $("image-figure").hidden = false;
    $("predict").disabled = false;
    await predict();
  };
  reader.readAsDataURL(file);
}

function setupDrop() {
  const drop = $("drop");
  const file = $("file");
  file.addEventListener("change", () => readImage(file.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    readImage(event.dataTransfer.files[0]);
  });
}

// ---------------------------------------------------------------------------- predict, explain
function latencyText() {
  const parts = [];
  if (state.predictLatency !== null) parts.push(`predict ${state.predictLatency.toFixed(1)} ms`);
  if (state.explained) parts.push(`Grad-CAM ${state.explained.ms.toFixed(1)} ms`);
  return parts.join(" \u00b7 ");
}

function setCurl(id, command) {
  $(id).value = command;
  $("copy").disabled = !$("curl").value;
  $("copy-gradcam").disabled = !$("curl-gradcam").value;
}

async function predict() {
  if (!state.image || !state.model) return;
  const generation = ++state.generation;
  showError("");
  $("predict").disabled = true;
  state.explained = null;
  $("heatmap-figure").hidden = true;
  try {
    const body = {signature_name: DEFAULT, instances: [{b64: state.image.b64}]};
    const answer = await api("POST", modelPath() + ":predict", body);
    if (generation !== state.generation) return;  // another image or model came since
    state.predictLatency = answer.ms;
    setCurl("curl", answer.curl);
    const row = answer.json.predictions[0];
    const probabilities = row.probabilities;
    const order = probabilities.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]);
    state.top = order.slice(0, Number($("topk").value)).map(([p, i]) => ({
      id: i, probability: p, label: state.classNames ? state.classNames[i] : String(i),
    }));
    renderTop();
    $("latency").textContent = latencyText();
    if (GRADCAM in state.signatures) await explain(-1);
  } catch (err) {
    if (generation === state.generation) showError(err.message);
  } finally {
    $("predict").disabled = false;
  }
}

function renderTop() {
  const list = $("top");
  const gradcam = GRADCAM in state.signatures;
  list.replaceChildren(...state.top.map((entry) => {
    const item = document.createElement("li");
    const holder = gradcam ? document.createElement("button") : document.createElement("div");
    if (gradcam) {
      holder.type = "button";
      holder.className = "class-button";
      holder.setAttribute("aria-pressed", "false");
      holder.dataset.classId = String(entry.id);
      holder.addEventListener("click", () => explain(entry.id));
    }
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = entry.label;
    const prob = document.createElement("span");
    prob.className = "prob";
    prob.textContent = `${(entry.probability * 100).toFixed(2)} %`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(1, Math.round(entry.probability * 100))}%`;
    holder.append(name, prob, bar);
    item.append(holder);
    return item;
  }));
  $("topk-box").hidden = false;
  $("explain-hint").hidden = !gradcam;
}

async function explain(classId) {
  if (!state.image) return;
  const generation = state.generation;
  const mine = ++state.explanation;
  showError("");
  try {
    const body = {
      signature_name: GRADCAM,
      instances: [{image_bytes: {b64: state.image.b64}, class_id: classId}],
    };
    const answer = await api("POST", modelPath() + ":predict", body);
    if (generation !== state.generation || mine !== state.explanation) return;
    const row = answer.json.predictions[0];
    state.explained = {ms: answer.ms, classId: row.class_id};
    $("heatmap").src = "data:image/png;base64," + row[OVERLAY].b64;
    const name = row.label || String(row.class_id);
    $("heatmap-caption").textContent =
      `Grad-CAM for \u201c${name}\u201d (p = ${(row.probability * 100).toFixed(2)} %)`;
    $("heatmap").alt = `Grad-CAM heatmap for ${name} over the image`;
    $("heatmap-figure").hidden = false;
    for (const button of document.querySelectorAll("#top .class-button")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.classId) === row.class_id));
    }
    setCurl("curl-gradcam", answer.curl);
    $("latency").textContent = latencyText();
  } catch (err) {
    if (generation === state.generation && mine === state.explanation) showError(err.message);
  }
}

// ---------------------------------------------------------------------------- copy as curl
async function copyCurl(event) {
  const source = $(event.currentTarget.dataset.source);
  const status = $(event.currentTarget.id + "-status");
  try {
    await navigator.clipboard.writeText(source.value);
    status.textContent = "Copied.";
  } catch (err) {
    // No clipboard permission (e.g. a page not on localhost over plain http): select the text
    // so Ctrl+C copies it.
    source.focus();
    source.select();
    status.textContent = "Selected: press Ctrl+C to copy.";
  }
}

// ---------------------------------------------------------------------------- start
async function start() {
  setupDrop();
  $("model").addEventListener("change", (event) => chooseModel(event.target.value));
  $("version").addEventListener("change", async (event) => {
    state.versionPath = event.target.value;
    await loadMetadata();
  });
  $("topk").addEventListener("change", () => predict());
  $("predict").addEventListener("click", () => predict());
  $("copy").addEventListener("click", copyCurl);
  $("copy-gradcam").addEventListener("click", copyCurl);
  try {
    await loadModels();
  } catch (err) {
    showError(err.message);
  }
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);
