"use strict";
// The training explorer's page: it draws what scripts/explore.py computed (no arithmetic of the network here).
// Data: #data holds {runs: [...]}; each run has the epochs shown, the trace's figures at them, the params,
// and the maps as deflate-compressed bytes: units (frames x hidden units x G x G) and output (frames x G x G).

const ORANGE = [245, 147, 34];
const MIDDLE = [236, 238, 239];
const BLUE = [8, 119, 189];
const RUN_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
  "#17becf", "#bcbd22", "#7f7f7f", "#ff7f0e", "#393b79", "#637939"];
const PALETTE = makePalette(); // 256 RGBA colours: byte 0 orange, 128 near white, 255 blue

const state = { runs: [], run: 0, frame: 0, selected: null, hover: null, pinned: null, timer: null };
const $ = (id) => document.getElementById(id);

function makePalette() {
  const p = new Uint8ClampedArray(256 * 4);
  for (let k = 0; k < 256; k++) {
    const t = k / 255;
    const [from, to, s] = t < 0.5 ? [ORANGE, MIDDLE, t * 2] : [MIDDLE, BLUE, t * 2 - 1];
    for (let c = 0; c < 3; c++) p[4 * k + c] = from[c] + (to[c] - from[c]) * s;
    p[4 * k + 3] = 255;
  }
  return p;
}

async function inflate(base64) {
  const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// ------------------------------------------------------------------ drawing helpers

/** Paint size x size bytes (from offset) onto a canvas of that many pixels, through the palette. */
function paint(canvas, bytes, offset, size) {
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(size, size);
  for (let k = 0; k < size * size; k++) {
    const b = 4 * bytes[offset + k];
    image.data[4 * k] = PALETTE[b];
    image.data[4 * k + 1] = PALETTE[b + 1];
    image.data[4 * k + 2] = PALETTE[b + 2];
    image.data[4 * k + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

/** An input's map: the coordinate itself, lowest orange, highest blue. */
function inputBytes(axis, size) {
  const bytes = new Uint8Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      const t = axis === 0 ? (j + 0.5) / size : 1 - (i + 0.5) / size;
      bytes[i * size + j] = Math.round(255 * t);
    }
  }
  return bytes;
}

/** Where the map (size x size bytes) crosses byte 127.5, as line segments in canvas pixels (marching squares). */
function contour(bytes, offset, size, width, height) {
  const level = 127.5, segments = [];
  const at = (i, j) => bytes[offset + i * size + j];
  const px = (j) => ((j + 0.5) / size) * width, py = (i) => ((i + 0.5) / size) * height;
  for (let i = 0; i + 1 < size; i++) {
    for (let j = 0; j + 1 < size; j++) {
      const corners = [[i, j], [i, j + 1], [i + 1, j + 1], [i + 1, j]];
      const points = [];
      for (let k = 0; k < 4; k++) {
        const [a, b] = [corners[k], corners[(k + 1) % 4]];
        const va = at(...a) - level, vb = at(...b) - level;
        if ((va < 0) !== (vb < 0)) {
          const s = va / (va - vb);
          points.push([px(a[1] + s * (b[1] - a[1])), py(a[0] + s * (b[0] - a[0]))]);
        }
      }
      for (let k = 0; k + 1 < points.length; k += 2) segments.push([points[k], points[k + 1]]);
    }
  }
  return segments;
}

const fmt = (v) => (v === null ? "–" : v.toPrecision(4));
const pct = (v) => (v === null ? "–" : (100 * v).toFixed(1) + "%");

// ------------------------------------------------------------------ a run's data

function frameAt(run, epoch) {
  let k = 0;
  while (k + 1 < run.epochs.length && run.epochs[k + 1] <= epoch) k++;
  return k;
}

function unitIndex(run, layer, unit) {
  // layer 1 is the first hidden layer; the bytes hold the hidden layers one after the other
  let k = 0;
  for (let l = 1; l < layer; l++) k += run.sizes[l];
  return k + unit;
}

function hiddenUnits(run) {
  return run.sizes.slice(1, -1).reduce((a, b) => a + b, 0);
}

function unitOffset(run, frame, layer, unit) {
  const g = run.unitGrid;
  return (frame * hiddenUnits(run) + unitIndex(run, layer, unit)) * g * g;
}

function describeUnit(run, frame, layer, unit) {
  const last = run.sizes.length - 1;
  if (layer === 0) {
    const [lo, hi] = run.extent.slice(2 * unit, 2 * unit + 2);
    return { text: `Input x${unit + 1}: its map is x${unit + 1} itself, from ${fmt(lo)} (orange) to ${fmt(hi)} (blue).` };
  }
  const b = run.params[frame][layer - 1].b[unit];
  if (layer === last) {
    return { value: b, text: `Output unit (sigmoid): bias b = ${fmt(b)}. Its map: P(class 1), 0 (orange) to 1 (blue).` };
  }
  const [lo, hi] = run.ranges[frame][unitIndex(run, layer, unit)];
  return {
    value: b,
    text: `Layer ${layer}, unit ${unit + 1} (${run.activation}): bias b = ${fmt(b)}. ` +
      `Its map: from ${fmt(lo)} (orange) to ${fmt(hi)} (blue).`,
  };
}

function describeEdge(run, frame, layer, from, to) {
  const w = run.params[frame][layer - 1].w[from][to];
  const source = layer === 1 ? `x${from + 1}` : `layer ${layer - 1} unit ${from + 1}`;
  const target = layer === run.sizes.length - 1 ? "the output" : `layer ${layer} unit ${to + 1}`;
  return { value: w, text: `Weight from ${source} to ${target}: w = ${fmt(w)}.` };
}

// ------------------------------------------------------------------ building the page

function buildRunCards() {
  const nav = $("runs");
  state.runs.forEach((run, k) => {
    const card = document.createElement("button");
    card.type = "button";
    card.className = "run";
    card.dataset.run = k;
    card.innerHTML = `<canvas></canvas><span><span class="name"><span class="dot"></span></span><br>` +
      `<span class="run-loss"></span><br><span class="run-val-loss"></span></span>`;
    card.title = run.about;
    card.querySelector(".dot").style.background = RUN_COLOURS[k % RUN_COLOURS.length];
    card.querySelector(".name").append(run.label);
    card.addEventListener("click", () => selectRun(k));
    nav.append(card);
  });
}

function buildNetwork(run) {
  const box = $("network"), svg = $("edges");
  box.querySelectorAll(".unit, .layer-label").forEach((el) => el.remove());
  svg.replaceChildren();
  const widest = Math.max(...run.sizes), layers = run.sizes.length - 1;
  const size = widest > 8 ? 30 : 44, gap = Math.round(size * 0.45), top = 22;
  const column = Math.max(90, Math.min(190, (box.parentElement.clientWidth - size - 20) / layers));
  const height = top + widest * (size + gap);
  const place = (layer, unit) => {
    const n = run.sizes[layer];
    return [10 + layer * column, top + (height - top - n * (size + gap)) / 2 + unit * (size + gap)];
  };
  box.style.height = `${height}px`;
  box.style.width = `${10 + (run.sizes.length - 1) * column + size + 10}px`;
  svg.setAttribute("width", box.style.width);
  svg.setAttribute("height", box.style.height);
  const last = run.sizes.length - 1;
  run.sizes.forEach((n, layer) => {
    const label = document.createElement("div");
    label.className = "layer-label";
    label.textContent = layer === 0 ? "input" : layer === last ? "output" : `layer ${layer}`;
    label.style.left = `${place(layer, 0)[0] - 20}px`;
    label.style.width = `${size + 40}px`;
    label.style.top = "0px";
    box.append(label);
    for (let unit = 0; unit < n; unit++) {
      const [x, y] = place(layer, unit);
      const div = document.createElement("div");
      div.className = "unit";
      Object.assign(div.dataset, { layer, unit });
      Object.assign(div.style, { left: `${x}px`, top: `${y}px`, width: `${size}px`, height: `${size}px` });
      const canvas = document.createElement("canvas");
      div.append(canvas);
      if (layer === 0) paint(canvas, inputBytes(unit, run.unitGrid), 0, run.unitGrid);
      div.addEventListener("mouseenter", () => hover({ kind: "unit", layer, unit }));
      div.addEventListener("mouseleave", () => hover(null));
      div.addEventListener("click", () => selectUnit(layer, unit));
      box.append(div);
    }
  });
  for (let layer = 1; layer <= last; layer++) {
    for (let from = 0; from < run.sizes[layer - 1]; from++) {
      for (let to = 0; to < run.sizes[layer]; to++) {
        const [x0, y0] = place(layer - 1, from), [x1, y1] = place(layer, to);
        const a = [x0 + size, y0 + size / 2], b = [x1, y1 + size / 2], mid = (a[0] + b[0]) / 2;
        const d = `M${a[0]},${a[1]} C${mid},${a[1]} ${mid},${b[1]} ${b[0]},${b[1]}`;
        const hit = document.createElementNS("http://www.w3.org/2000/svg", "path");
        hit.setAttribute("d", d);
        hit.setAttribute("class", "hit");
        hit.setAttribute("stroke-width", "7");
        Object.assign(hit.dataset, { layer, from, to });
        hit.addEventListener("mouseenter", () => hover({ kind: "edge", layer, from, to }));
        hit.addEventListener("mouseleave", () => hover(null));
        hit.addEventListener("click", () => pin({ kind: "edge", layer, from, to }));
        const line = document.createElementNS("http://www.w3.org/2000/svg", "path");
        line.setAttribute("d", d);
        line.setAttribute("class", "edge");
        line.setAttribute("pointer-events", "none");
        line.setAttribute("stroke-opacity", "0.75");
        Object.assign(line.dataset, { layer, from, to });
        svg.append(hit, line);
      }
    }
  }
}

// ------------------------------------------------------------------ drawing a frame

function drawNetwork(run, frame) {
  const last = run.sizes.length - 1;
  const outputGrid = run.outputGrid;
  document.querySelectorAll("#network .unit").forEach((div) => {
    const layer = Number(div.dataset.layer), unit = Number(div.dataset.unit);
    const canvas = div.querySelector("canvas");
    if (layer === last) paint(canvas, run.outputBytes, frame * outputGrid * outputGrid, outputGrid);
    else if (layer > 0) paint(canvas, run.unitBytes, unitOffset(run, frame, layer, unit), run.unitGrid);
    div.classList.toggle("selected", !!state.selected && state.selected.layer === layer && state.selected.unit === unit);
  });
  document.querySelectorAll("#edges path.edge").forEach((line) => {
    const { layer, from, to } = line.dataset;
    const w = run.params[frame][layer - 1].w[from][to];
    line.setAttribute("stroke", w >= 0 ? "rgb(8,119,189)" : "rgb(245,147,34)");
    line.setAttribute("stroke-width", (0.5 + 6 * Math.sqrt(Math.min(Math.abs(w) / run.maxWeight, 1))).toFixed(2));
  });
}

function drawMap(canvas, run, frame, withPoints) {
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  const map = document.createElement("canvas");
  const sel = withPoints ? state.selected : null;
  let bytes = run.outputBytes, size = run.outputGrid, offset = frame * size * size, isOutput = true;
  if (sel && sel.layer === 0) {
    bytes = inputBytes(sel.unit, run.unitGrid); size = run.unitGrid; offset = 0; isOutput = false;
  } else if (sel && sel.layer < run.sizes.length - 1) {
    bytes = run.unitBytes; size = run.unitGrid; offset = unitOffset(run, frame, sel.layer, sel.unit); isOutput = false;
  }
  paint(map, bytes, offset, size);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(map, 0, 0, w, h);
  if (isOutput) {
    ctx.strokeStyle = "rgba(0,0,0,0.75)";
    ctx.lineWidth = withPoints ? 1.5 : 1;
    ctx.beginPath();
    for (const [a, b] of contour(bytes, offset, size, w, h)) { ctx.moveTo(...a); ctx.lineTo(...b); }
    ctx.stroke();
  }
  if (!withPoints) return;
  const [x0, x1, y0, y1] = run.extent;
  const at = (p) => [((p[0] - x0) / (x1 - x0)) * w, ((y1 - p[1]) / (y1 - y0)) * h];
  for (const p of run.train) {
    const [x, y] = at(p);
    ctx.beginPath();
    ctx.arc(x, y, 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = p[2] ? "rgb(8,119,189)" : "rgb(245,147,34)";
    ctx.fill();
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  for (const p of run.test) {
    const [x, y] = at(p);
    ctx.beginPath();
    ctx.moveTo(x, y - 5); ctx.lineTo(x + 5, y); ctx.lineTo(x, y + 5); ctx.lineTo(x - 5, y); ctx.closePath();
    ctx.fillStyle = p[2] ? "rgb(8,119,189)" : "rgb(245,147,34)";
    ctx.fill();
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 1.2;
    ctx.stroke();
  }
}

function drawCurves(run, frame) {
  const canvas = $("curves"), ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  const left = 42, right = 16, top = 8, bottom = 22;
  const all = state.runs.flatMap((r) => [...r.curve.loss, ...r.curve.valLoss]).filter((v) => v !== null && v > 0);
  // from the smallest loss to the largest, but at most 100 times the largest initial loss (a diverging run is cut)
  const start = state.runs.reduce((m, r) => Math.max(m, r.curve.loss[0] || 0, r.curve.valLoss[0] || 0), 1e-6);
  const least = all.reduce((m, v) => Math.min(m, v), Infinity);
  const most = Math.min(all.reduce((m, v) => Math.max(m, v), 1e-6), 100 * start);
  const lo = Math.floor(Math.log10(Math.max(least, 1e-6))), hi = Math.ceil(Math.log10(most));
  const span = Math.max(hi - lo, 1), maxEpoch = Math.max(...state.runs.map((r) => r.epochsRun), 1);
  const X = (e) => left + (e / maxEpoch) * (w - left - right);
  const Y = (v) => top + ((hi - Math.log10(Math.min(Math.max(v, 10 ** lo), 10 ** hi))) / span) * (h - top - bottom);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "10px system-ui, sans-serif";
  ctx.fillStyle = "#666";
  ctx.strokeStyle = "#e4e4e4";
  ctx.lineWidth = 1;
  const every = Math.ceil(span / 6); // at most about 6 labelled decades
  for (let d = hi; d >= lo; d -= every) {
    ctx.beginPath(); ctx.moveTo(left, Y(10 ** d)); ctx.lineTo(w - right, Y(10 ** d)); ctx.stroke();
    ctx.textAlign = "right"; ctx.fillText(`1e${d}`, left - 4, Y(10 ** d) + 3);
  }
  ctx.textAlign = "center";
  for (const e of [0, Math.round(maxEpoch / 2), maxEpoch]) ctx.fillText(String(e), X(e), h - 6);
  const line = (r, values, colour, width, dash) => {
    ctx.beginPath();
    r.curve.epochs.forEach((e, k) => {
      if (values[k] === null) return;
      if (k === 0) ctx.moveTo(X(e), Y(values[k])); else ctx.lineTo(X(e), Y(values[k]));
    });
    ctx.strokeStyle = colour; ctx.lineWidth = width; ctx.setLineDash(dash); ctx.stroke(); ctx.setLineDash([]);
  };
  state.runs.forEach((r, k) => {
    if (k === state.run) return;
    line(r, r.curve.loss, "#c8c8c8", 1, []);
    line(r, r.curve.valLoss, "#c8c8c8", 1, [4, 3]);
  });
  const colour = RUN_COLOURS[state.run % RUN_COLOURS.length];
  line(run, run.curve.loss, colour, 2, []);
  line(run, run.curve.valLoss, colour, 2, [5, 3]);
  const epoch = run.epochs[frame];
  ctx.strokeStyle = "#000"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(X(epoch), top); ctx.lineTo(X(epoch), h - bottom); ctx.stroke();
  for (const v of [run.figures.loss[frame], run.figures.valLoss[frame]]) {
    if (v === null) continue;
    ctx.beginPath(); ctx.arc(X(epoch), Y(v), 3.5, 0, 2 * Math.PI); ctx.fillStyle = colour; ctx.fill();
  }
}

function setNumber(id, value, format) {
  const cell = $(id);
  cell.textContent = format(value);
  cell.dataset.value = String(value);
}

function showInfo() {
  const run = state.runs[state.run], frame = state.frame, focus = state.hover || state.pinned;
  const info = $("info");
  if (!focus) {
    info.textContent = "Hover over a unit or a weight to read its value; click a unit to show its map large.";
    for (const key of Object.keys(info.dataset)) delete info.dataset[key];
    return;
  }
  const d = focus.kind === "unit" ? describeUnit(run, frame, focus.layer, focus.unit)
    : describeEdge(run, frame, focus.layer, focus.from, focus.to);
  info.textContent = `Epoch ${run.epochs[frame]}. ${d.text}`;
  for (const key of Object.keys(info.dataset)) delete info.dataset[key];
  Object.assign(info.dataset, focus, { value: d.value === undefined ? "" : String(d.value) });
}

function render() {
  const run = state.runs[state.run], frame = state.frame, epoch = run.epochs[frame];
  $("slider").value = frame;
  $("epoch").textContent = epoch;
  $("epochs-run").textContent = run.epochsRun;
  setNumber("loss", run.figures.loss[frame], fmt);
  setNumber("accuracy", run.figures.accuracy[frame], pct);
  setNumber("val-loss", run.figures.valLoss[frame], fmt);
  setNumber("val-accuracy", run.figures.valAccuracy[frame], pct);
  drawNetwork(run, frame);
  drawMap($("boundary"), run, frame, true);
  drawCurves(run, frame);
  const sel = state.selected;
  $("map-title").textContent = !sel || sel.layer === run.sizes.length - 1 ? "Output: P(class 1), boundary at 0.5"
    : sel.layer === 0 ? `Input x${sel.unit + 1}` : `Layer ${sel.layer}, unit ${sel.unit + 1}: its output over the plane`;
  document.querySelectorAll("#runs .run").forEach((card, k) => {
    const other = state.runs[k], f = frameAt(other, epoch);
    drawMap(card.querySelector("canvas"), other, f, false);
    card.querySelector(".run-loss").textContent = `loss ${fmt(other.figures.loss[f])}`;
    card.querySelector(".run-val-loss").textContent = `held-out ${fmt(other.figures.valLoss[f])}`;
  });
  showInfo();
}

// ------------------------------------------------------------------ interaction

function selectRun(k) {
  const epoch = state.runs.length ? state.runs[state.run].epochs[state.frame] : 0;
  state.run = k;
  state.selected = state.hover = state.pinned = null;
  const run = state.runs[k];
  buildNetwork(run);
  $("slider").max = run.epochs.length - 1;
  state.frame = frameAt(run, epoch);
  $("about").textContent = run.about;
  document.querySelectorAll("#runs .run").forEach((card, j) => card.classList.toggle("selected", j === k));
  render();
}

function selectUnit(layer, unit) {
  const same = state.selected && state.selected.layer === layer && state.selected.unit === unit;
  state.selected = same ? null : { layer, unit };
  state.pinned = same ? null : { kind: "unit", layer, unit };
  render();
}

function pin(focus) {
  state.pinned = focus;
  showInfo();
}

function hover(focus) {
  state.hover = focus;
  showInfo();
}

function setPlaying(on) {
  clearInterval(state.timer);
  state.timer = null;
  $("play").innerHTML = on ? "&#10074;&#10074; Pause" : "&#9654; Play";
  if (!on) return;
  const last = state.runs[state.run].epochs.length - 1;
  if (state.frame >= last) state.frame = 0;
  state.timer = setInterval(() => {
    if (state.frame >= state.runs[state.run].epochs.length - 1) return setPlaying(false);
    state.frame += 1;
    render();
  }, 120);
}

async function main() {
  const data = JSON.parse($("data").textContent);
  for (const run of data.runs) {
    run.unitBytes = await inflate(run.units);
    run.outputBytes = await inflate(run.output);
    const weights = run.params.flatMap((p) => p.flatMap((layer) => layer.w.flat()));
    run.maxWeight = weights.reduce((m, w) => Math.max(m, Math.abs(w)), 1e-12);
  }
  state.runs = data.runs;
  buildRunCards();
  $("slider").addEventListener("input", (event) => {
    state.frame = Number(event.target.value);
    render();
  });
  $("play").addEventListener("click", () => setPlaying(state.timer === null));
  start(new URLSearchParams(location.hash.slice(1)));
  document.body.dataset.ready = "true";
}

/** The first view: run, epoch and unit from the address's #run=K&epoch=E&unit=L.U (all optional). */
function start(options) {
  const k = Number(options.get("run") || 0);
  selectRun(Number.isInteger(k) && k >= 0 && k < state.runs.length ? k : 0);
  const epoch = Number(options.get("epoch") || 0);
  if (epoch > 0) state.frame = frameAt(state.runs[state.run], epoch);
  const [layer, unit] = (options.get("unit") || "").split(".").map(Number);
  const sizes = state.runs[state.run].sizes;
  if (layer >= 0 && layer < sizes.length && unit >= 1 && unit <= sizes[layer]) selectUnit(layer, unit - 1);
  render();
}

main();
