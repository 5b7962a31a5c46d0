// The pixelwise page: choose a model, send an image, show the predicted classes over it.
// It talks only to the server that sent it (no other host).
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "pixelwise-token";

const state = {
  models: [],
  limits: null,
  file: null,       // the image sent last
  result: null,     // its JSON summary
  labels: null,     // Uint16Array of class indices, row-major
  hidden: new Set(),
};

// --- talking to the server ---------------------------------------------------------------

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) { /* not JSON */ }
  return `${response.status} ${response.statusText}`;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (response.status === 401) showTokenForm();
  if (!response.ok) throw new Error(await errorMessage(response));
  return response;
}

function predictUrl(output) {
  const params = new URLSearchParams({ model: $("model").value, output });
  if (output === "json") params.set("rle", "true");
  if ($("tta").value) params.append("tta", $("tta").value);
  return `/api/predict?${params}`;
}

function imageForm(file) {
  const form = new FormData();
  form.append("image", file, file.name || "pasted.png");
  return form;
}

// --- messages ----------------------------------------------------------------------------

function setStatus(text) { $("status").textContent = text; }

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}

function showTokenForm() {
  $("token-form").hidden = false;
  $("token").focus();
}

function formatBytes(bytes) {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(bytes % 2 ** 20 ? 1 : 0)} MB` : `${Math.round(bytes / 1024)} KB`;
}

function formatPercent(fraction) {
  if (fraction === 0) return "0%";
  if (fraction < 0.001) return "<0.1%";
  return `${(fraction * 100).toFixed(1)}%`;
}

// --- models ------------------------------------------------------------------------------

async function loadModels() {
  try {
    const response = await api("/api/models");
    const body = await response.json();
    state.models = body.models;
    state.limits = body.limits;
  } catch (error) {
    showError(`Cannot list the models: ${error.message}`);
    return;
  }
  const select = $("model");
  select.replaceChildren(...state.models.map((model) => new Option(model.name, model.name)));
  select.disabled = false;
  $("token-form").hidden = true;
  showError("");
  const { max_upload_bytes: bytes, max_pixels: pixels } = state.limits;
  $("limits").textContent = `Up to ${formatBytes(bytes)} and ${(pixels / 1e6).toFixed(1)} megapixels.`;
  describeModel();
}

function currentModel() {
  return state.models.find((model) => model.name === $("model").value);
}

function describeModel() {
  const model = currentModel();
  if (!model) return;
  const kind = model.kind === "network" ? `${model.architecture}, ${model.backend} on ${model.device}` : `classical method: ${model.architecture}`;
  $("model-info").textContent = `${kind}; ${model.classes.length} classes`;
  $("tta").disabled = !model.tta;
  if (!model.tta) $("tta").value = "";
}

// --- sending an image --------------------------------------------------------------------

async function send(file) {
  if (!file) return;
  showError("");
  if (state.limits && file.size > state.limits.max_upload_bytes) {
    showError(`This file is ${formatBytes(file.size)}; the server accepts up to ${formatBytes(state.limits.max_upload_bytes)}.`);
    return;
  }
  state.file = file;
  setStatus(`Predicting ${file.name || "the pasted image"}…`);
  document.body.setAttribute("aria-busy", "true");
  try {
    const response = await api(predictUrl("json"), { method: "POST", body: imageForm(file) });
    const result = await response.json();
    await show(file, result);
    setStatus(`Done: ${result.width}×${result.height} pixels.`);
  } catch (error) {
    setStatus("");
    showError(error.message);
  } finally {
    document.body.removeAttribute("aria-busy");
  }
}

function decodeRuns(mask, size) {
  const labels = new Uint16Array(size);
  let at = 0;
  mask.values.forEach((value, index) => {
    const count = mask.counts[index];
    labels.fill(value, at, at + count);
    at += count;
  });
  return labels;
}

async function show(file, result) {
  state.result = result;
  state.labels = decodeRuns(result.mask, result.width * result.height);
  state.hidden = new Set();
  const canvas = $("mask");
  canvas.width = result.width;
  canvas.height = result.height;
  $("result").hidden = false;
  await showPhoto(file, result);
  buildLegend(result.classes);
  drawMask();
  const queued = result.queued_seconds >= 0.01 ? ` (waited ${result.queued_seconds.toFixed(2)} s for a worker)` : "";
  const tta = result.tta.length ? `, TTA ${result.tta.join(" ")}` : "";
  $("timing").textContent = `Prediction took ${result.seconds.toFixed(2)} s${queued}; model ${result.model}${tta}${result.tiled ? ", in tiles" : ""}.`;
}

function showPhoto(file, result) {
  const photo = $("photo");
  if (photo.src) URL.revokeObjectURL(photo.src);
  $("caption").textContent = file.name || "pasted image";
  return new Promise((resolve) => {
    photo.onload = () => { photo.classList.remove("missing"); resolve(); };
    photo.onerror = () => {
      // Browsers cannot show every format the server reads (TIFF): show the classes alone.
      photo.classList.add("missing");
      photo.removeAttribute("src");
      $("caption").textContent = `${file.name}: this browser cannot show the image itself; the classes are shown alone.`;
      resolve();
    };
    photo.style.aspectRatio = `${result.width} / ${result.height}`;
    photo.src = URL.createObjectURL(file);
  });
}

// --- drawing -----------------------------------------------------------------------------

function drawMask() {
  const { width, height, classes } = state.result;
  const canvas = $("mask");
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const rgba = new Uint32Array(image.data.buffer);
  const little = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  const colours = new Uint32Array(Math.max(classes.length, 1));
  classes.forEach(({ index, colour: [r, g, b] }) => {
    if (state.hidden.has(index)) return;
    colours[index] = little ? ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0;
  });
  const labels = state.labels;
  for (let i = 0; i < labels.length; i += 1) rgba[i] = colours[labels[i]];
  context.putImageData(image, 0, 0);
  applyOpacity();
}

function applyOpacity() {
  const value = Number($("opacity").value);
  $("mask").style.opacity = String(value / 100);
  $("opacity-value").textContent = `${value}%`;
}

function buildLegend(classes) {
  const items = classes.map(({ index, name, colour, fraction }) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "legend-item";
    button.dataset.index = String(index);
    button.setAttribute("aria-pressed", "true");
    button.title = `Hide or show ${name}`;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.backgroundColor = `rgb(${colour.join(",")})`;
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const share = document.createElement("span");
    share.className = "share";
    share.textContent = formatPercent(fraction);
    button.append(swatch, label, share);
    button.addEventListener("click", () => toggleClass(index, button));
    const item = document.createElement("li");
    if (fraction === 0) item.className = "absent";
    item.append(button);
    return item;
  });
  $("legend").replaceChildren(...items);
}

function toggleClass(index, button) {
  if (state.hidden.has(index)) state.hidden.delete(index);
  else state.hidden.add(index);
  button.setAttribute("aria-pressed", String(!state.hidden.has(index)));
  drawMask();
}

// --- downloads ---------------------------------------------------------------------------

function stem() {
  const name = (state.file && state.file.name) || "image";
  return name.replace(/\.[^.]+$/, "") || "image";
}

function save(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

async function downloadLabels() {
  if (!state.file) return;
  showError("");
  setStatus("Preparing the label PNG…");
  try {
    const response = await api(predictUrl("labels"), { method: "POST", body: imageForm(state.file) });
    save(await response.blob(), `${stem()}-labels.png`);
    setStatus("Label PNG downloaded.");
  } catch (error) {
    setStatus("");
    showError(error.message);
  }
}

function downloadOverlay() {
  const mask = $("mask");
  const photo = $("photo");
  const canvas = document.createElement("canvas");
  canvas.width = mask.width;
  canvas.height = mask.height;
  const context = canvas.getContext("2d");
  if (!photo.classList.contains("missing") && photo.complete && photo.naturalWidth) {
    context.drawImage(photo, 0, 0, canvas.width, canvas.height);
  }
  context.globalAlpha = Number($("opacity").value) / 100;
  context.drawImage(mask, 0, 0);
  canvas.toBlob((blob) => save(blob, `${stem()}-overlay.png`), "image/png");
}

// --- wiring ------------------------------------------------------------------------------

function firstImage(items) {
  for (const item of items) {
    if (item.kind === "file" && item.type.startsWith("image/")) return item.getAsFile();
  }
  return null;
}

function wire() {
  const drop = $("drop");
  const file = $("file");
  drop.addEventListener("click", () => file.click());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      file.click();
    }
  });
  file.addEventListener("change", () => { send(file.files[0]); file.value = ""; });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    send(event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const pasted = firstImage(event.clipboardData ? event.clipboardData.items : []);
    if (pasted) send(pasted);
  });
  $("model").addEventListener("change", describeModel);
  $("opacity").addEventListener("input", applyOpacity);
  $("download-labels").addEventListener("click", downloadLabels);
  $("download-overlay").addEventListener("click", downloadOverlay);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    loadModels();
  });
  loadModels();
}

document.addEventListener("DOMContentLoaded", wire);
