// canserve web page: read the form, call the HTTP API, draw. Every input lives in the URL.
// No figure is computed here: the page compares the API's answers with the user's targets and
// formats them (GB = 1e9 bytes, as the API's byte counts).
"use strict";
const $ = (id) => document.getElementById(id);
const FIELDS = ["model", "quant", "gpu", "gpus", "users", "prompt", "output", "context", "latency", "tokens_per_day"];
const LABELS = {model: "Model", quant: "Precision", gpu: "GPU", gpus: "GPUs per replica", tp: "GPUs per replica",
  users: "Concurrent users", batch: "Concurrent users", prompt: "Prompt tokens", output: "Output tokens",
  context: "Max context", latency: "Target", slo: "Target", tokens_per_day: "Tokens per day", config: "config.json"};
const INTEGER = {gpus: [1, 1024], users: [1, 1000000], prompt: [1, 10000000], output: [1, 10000000],
  context: [2, 100000000], tokens_per_day: [0, 1e15]};
const GB = 1e9;
const RECOMMENDATION = {api: "use an API", "self-host": "self-host", hybrid: "go hybrid (simple queries local, the rest to an API)"};
let gpuRows = [];
let generation = 0, timer = null, searchTimer = null, lastSearch = {q: null, rows: []}, activeOption = -1;

// ---------- formatting ----------
function fmt(x, d = 2) { return Number(x).toLocaleString("en-US", {maximumFractionDigits: d}); }
function gb(bytes) { return fmt(bytes / GB, 2) + " GB"; }
function secs(s) {
  if (s === null || s === undefined || !isFinite(s)) return "n/a";
  if (s < 1) return fmt(s * 1e3, s < 0.01 ? 1 : 0) + " ms";
  return fmt(s, s < 10 ? 2 : 1) + " s";
}
function params(n) { return n >= 1e9 ? fmt(n / 1e9, 1) + " B" : fmt(n / 1e6, 0) + " M"; }
function usd(x, d = 2) { return "$" + fmt(x, d); }
function esc(s) { return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }

// Server messages speak the CLI's language; the page's own labels are clearer here.
function friendly(msg) {
  return String(msg)
    .replace(/\s*\(see: canserve models;[^)]*\)+/g, " (pick a model from the list, or use your own config.json)")
    .replace(/--config PATH/g, "your own config.json").replace(/;? pass --cloud .*? to price one provider/g, "").replace(/\bbatch\b/g, "concurrent users")
    .slice(0, 400);
}

class ApiError extends Error {}

// The update in flight: a newer one aborts its requests, and the server cancels their work.
let inflight = new AbortController();

async function api(path, body, attempt = 0) {
  const signal = body === undefined ? undefined : inflight.signal;
  const res = await fetch(path, body === undefined ? {} :
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body), signal});
  if (res.status === 503 && attempt < 3) {  // busy server: wait as it asks, then retry
    const wait = Math.min(10, Number(res.headers.get("Retry-After")) || 1);
    await new Promise((r) => setTimeout(r, wait * 1000));
    return api(path, body, attempt + 1);
  }
  let data;
  try { data = await res.json(); } catch (e) { throw new ApiError(`the server answered HTTP ${res.status}`); }
  if (!res.ok) {
    const d = data.detail;
    const msg = Array.isArray(d) ? d.map((e) => `${LABELS[e.loc[e.loc.length - 1]] || e.loc.slice(1).join(".")}: ${e.msg}`).join("; ") : d;
    throw new ApiError(friendly(msg || `HTTP ${res.status}`));
  }
  return data;
}

// ---------- state in the URL (every field, always; a pasted config.json in the fragment) ----------
function saveState() {
  const params = new URLSearchParams();
  for (const f of FIELDS) params.set(f, $(f).value);
  const config = $("config").value.trim();
  let hash = "";
  if (config) {
    try { hash = "#config=" + encodeURIComponent(JSON.stringify(JSON.parse(config))); }
    catch (e) { hash = "#config=" + encodeURIComponent(config); }
  }
  history.replaceState(null, "", "?" + params.toString() + hash);
}

function loadState() {
  const params = new URLSearchParams(location.search);
  for (const f of FIELDS) {
    if (!params.has(f)) continue;
    const el = $(f), v = params.get(f);
    if (el.tagName === "SELECT" && ![...el.options].some((o) => o.value === v)) {
      // a GPU may be given by an alias in a hand-written link (H100 -> H100-SXM-80GB)
      const row = f === "gpu" && gpuRows.find((g) => [g.id, ...g.aliases].some((n) => n.toLowerCase() === v.toLowerCase()));
      if (row) el.value = row.id;
      continue;
    }
    el.value = v;
  }
  const m = location.hash.match(/^#config=(.*)$/);
  if (m) {
    let text = decodeURIComponent(m[1]);
    try { text = JSON.stringify(JSON.parse(text), null, 1); } catch (e) { /* keep as typed */ }
    $("config").value = text;
    $("config-box").open = true;
  }
}

// ---------- inputs ----------
function fieldError(id, msg) {
  const el = $(id);
  let note = $(id + "-error");
  if (!msg) { el.removeAttribute("aria-invalid"); if (note) note.remove(); return; }
  el.setAttribute("aria-invalid", "true");
  if (!note) {
    note = document.createElement("p");
    note.id = id + "-error"; note.className = "field-error";
    el.insertAdjacentElement("afterend", note);
    el.setAttribute("aria-describedby", (el.getAttribute("aria-describedby") || "") + " " + note.id);
  }
  note.textContent = msg;
}

function readInputs() {
  const v = {}, problems = [];
  for (const [id, [lo, hi]] of Object.entries(INTEGER)) {
    const text = $(id).value.trim(), x = Number(text);
    const bad = text === "" ? "enter a number" : !Number.isInteger(x) ? "enter a whole number" :
      x < lo || x > hi ? `enter ${fmt(lo)} to ${fmt(hi)}` : "";
    fieldError(id, bad);
    if (bad) problems.push(`${LABELS[id]}: ${bad}`); else v[id] = x;
  }
  const lat = Number($("latency").value);
  const latBad = $("latency").value.trim() === "" || !(lat > 0 && lat <= 86400) ? "enter seconds above 0" : "";
  fieldError("latency", latBad);
  if (latBad) problems.push(`Target: ${latBad}`); else v.latency = lat;
  if (!problems.length && v.context < v.prompt + v.output) {
    const msg = `at least prompt + output (${fmt(v.prompt + v.output)} tokens)`;
    fieldError("context", msg); problems.push(`Max context: ${msg}`);
  }
  v.gpu = $("gpu").value; v.quant = $("quant").value || null;
  return {v, problems};
}

// The model: a pasted config.json, an exact catalog name, or the best match of a word search
// ("Llama 3.1 70B"), said so beside the input.
async function resolveModel() {
  const text = $("config").value.trim();
  if (text) {
    let config;
    try { config = JSON.parse(text); } catch (e) { throw new ApiError("config.json is not valid JSON: " + e.message); }
    if (config === null || typeof config !== "object" || Array.isArray(config)) throw new ApiError("config.json must be a JSON object");
    $("model-note").textContent = "Sizing the pasted config.json" + ($("model").value.trim() ? ` (labelled ${$("model").value.trim()})` : "") + ".";
    return {query: {config, model: $("model").value.trim() || null}, row: null};
  }
  const name = $("model").value.trim();
  if (!name) throw new ApiError("Model: type a model name, or use your own config.json");
  const rows = await search(name);
  const exact = rows.find((r) => [r.id, ...r.aliases, ...r.other_ids].some((n) => n.toLowerCase() === name.toLowerCase()));
  const row = exact || rows[0];
  if (!row) throw new ApiError(`Model: no catalog model matches “${name.slice(0, 80)}”; pick one from the list, or use your own config.json`);
  const moe = row.params_active !== row.params_total;
  $("model-note").textContent = (exact ? "" : `Best match for “${name.slice(0, 80)}”: `) + row.id + " · " +
    (moe ? `${params(row.params_total)} parameters in all, ${params(row.params_active)} active per token (MoE: all must be in memory)`
      : `${params(row.params_total)} parameters`) + ` · up to ${fmt(row.max_position_embeddings)} tokens` +
    (row.checkpoint_quantization ? ` · checkpoint in ${row.checkpoint_quantization}` : "");
  return {query: {model: row.id}, row};
}

async function search(q) {
  if (lastSearch.q === q) return lastSearch.rows;
  const rows = await api("/api/models/search?limit=8&q=" + encodeURIComponent(q));
  lastSearch = {q, rows};
  return rows;
}

// ---------- the model picker (combobox) ----------
function showOptions(rows) {
  const list = $("model-options");
  activeOption = -1;
  if (!rows.length || document.activeElement !== $("model")) { list.hidden = true; $("model").setAttribute("aria-expanded", "false"); return; }
  list.innerHTML = rows.map((r, i) => `<li role="option" id="opt-${i}" data-id="${esc(r.id)}" aria-selected="false">${esc(r.id)}` +
    `<br><small>${params(r.params_total)}${r.params_active !== r.params_total ? ` (${params(r.params_active)} active)` : ""}` +
    `${r.aliases.length ? " · " + esc(r.aliases.slice(0, 3).join(", ")) : ""}</small></li>`).join("");
  list.hidden = false; $("model").setAttribute("aria-expanded", "true");
}

function pick(id) {
  $("model").value = id;
  $("model-options").hidden = true; $("model").setAttribute("aria-expanded", "false");
  schedule(0);
}

function onModelInput() {
  clearTimeout(searchTimer);
  const q = $("model").value.trim();
  showOptions([]);  // no stale choices from the previous text
  searchTimer = setTimeout(async () => {
    if (!q) return;
    try { const rows = await search(q); if ($("model").value.trim() === q) showOptions(rows); } catch (e) { showOptions([]); }
  }, 200);
  schedule(700);  // compute once typing pauses, never per keystroke
}

function onModelKey(ev) {
  const items = [...$("model-options").querySelectorAll("li")];
  if (!items.length || $("model-options").hidden) return;
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    ev.preventDefault();
    activeOption = (activeOption + (ev.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
    items.forEach((li, i) => li.setAttribute("aria-selected", String(i === activeOption)));
    $("model").setAttribute("aria-activedescendant", items[activeOption].id);
  } else if (ev.key === "Enter" && activeOption >= 0) {
    ev.preventDefault(); pick(items[activeOption].dataset.id);
  } else if (ev.key === "Escape") {
    $("model-options").hidden = true; $("model").setAttribute("aria-expanded", "false");
  }
}

// ---------- drawing ----------
function table(el, head, rows) {
  const caption = el.querySelector("caption");
  el.innerHTML = "";
  if (caption) el.appendChild(caption);
  el.insertAdjacentHTML("beforeend", "<thead><tr>" + head.map((h) => `<th scope="col">${h}</th>`).join("") + "</tr></thead><tbody>" +
    rows.map((r) => "<tr>" + r.map((c) => `<td>${c}</td>`).join("") + "</tr>").join("") + "</tbody>");
}

function niceTicks(max, n = 5) {
  const raw = max / n, mag = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const ticks = [];
  for (let t = 0; t <= max + 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

const COLORS = ["#3b6fd4", "#e8892b", "#2a9d6f", "#9a5bc7"];

// Memory per GPU: one stacked bar (weights, KV cache, activations, overhead) against the limit
// (capacity less headroom) and the capacity; legend below the plot, never over it.
function drawMemory(m) {
  const g = m.per_gpu, W = 560, H = 200, L = 20, R = 20, T = 34, barH = 44;
  const parts = [["Weights", g.weights_bytes], ["KV cache", g.kv_cache_bytes], ["Activations", g.activation_bytes], ["Overhead", g.overhead_bytes]];
  const cap = m.gpu_memory_bytes, limit = m.usable_bytes_per_gpu;
  const max = Math.max(g.total_bytes, cap) * 1.05 / GB, x = (v) => L + (W - L - R) * v / max;
  let s = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="mem-t mem-d"><title id="mem-t">Memory per GPU in GB</title>` +
    `<desc id="mem-d">${esc(memoryText(m))}</desc>`;
  s += `<text x="${W / 2}" y="16" text-anchor="middle" font-weight="600">Memory per GPU (GB)</text>`;
  let at = 0;
  parts.forEach(([name, b], i) => { s += `<rect x="${x(at)}" y="${T}" width="${Math.max(0, x(at + b / GB) - x(at))}" height="${barH}" fill="${COLORS[i]}"><title>${name}: ${gb(b)}</title></rect>`; at += b / GB; });
  for (const [v, color, dash, label, dy] of [[limit / GB, "#b42318", "5,3", `limit ${fmt(limit / GB, 1)} GB (${fmt((1 - m.headroom) * 100, 0)}%)`, T - 4],
    [cap / GB, "#1d2330", "", `capacity ${fmt(cap / GB, 1)} GB`, T + barH + 14]]) {
    s += `<line x1="${x(v)}" x2="${x(v)}" y1="${T - 2}" y2="${T + barH + 2}" stroke="${color}" stroke-width="2" stroke-dasharray="${dash}"/>`;
    s += `<text x="${Math.min(x(v), W - R)}" y="${dy}" text-anchor="end" fill="${color}">${label}</text>`;
  }
  const axisY = T + barH + 34;
  s += `<line x1="${L}" x2="${W - R}" y1="${axisY}" y2="${axisY}" stroke="#889"/>`;
  for (const t of niceTicks(max)) s += `<text x="${x(t)}" y="${axisY + 14}" text-anchor="middle">${fmt(t, 1)}</text>`;
  s += `<text x="${W / 2}" y="${axisY + 30}" text-anchor="middle">GB per GPU</text>`;
  parts.forEach(([name], i) => { const lx = L + i * 130; s += `<rect x="${lx}" y="${H - 16}" width="12" height="12" fill="${COLORS[i]}"/><text x="${lx + 16}" y="${H - 6}">${name}</text>`; });
  $("memory-chart").innerHTML = s + "</svg>";
  $("memory-caption").textContent = memoryText(m);
}

function memoryText(m) {
  const g = m.per_gpu;
  return `Per GPU: weights ${gb(g.weights_bytes)}, KV cache ${gb(g.kv_cache_bytes)}, activations ${gb(g.activation_bytes)}, ` +
    `overhead ${gb(g.overhead_bytes)}; total ${gb(g.total_bytes)} against a limit of ${gb(m.usable_bytes_per_gpu)} ` +
    `(${fmt((1 - m.headroom) * 100, 0)}% of ${gb(m.gpu_memory_bytes)}).`;
}

// Throughput (left axis) and time per output token (right axis) against the batch, only for
// batches whose KV cache fits; legend above the plot area.
function drawPerf(curve) {
  const pts = curve.filter((e) => e.fits);
  const W = 560, H = 260, L = 62, R = 62, T = 44, B = 44, pw = W - L - R, ph = H - T - B;
  const xs = pts.map((e) => e.batch), lx = (b) => L + pw * (xs.length > 1 ? Math.log2(b / xs[0]) / Math.log2(xs[xs.length - 1] / xs[0]) : 0.5);
  const tmax = Math.max(...pts.map((e) => e.decode_tokens_per_s)) * 1.1, pmax = Math.max(...pts.map((e) => e.tpot_s * 1e3)) * 1.1;
  const ty = (v) => T + ph * (1 - v / tmax), py = (v) => T + ph * (1 - v / pmax);
  const text = perfText(pts);
  let s = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="perf-t perf-d"><title id="perf-t">Decode throughput and time per output token against batch size</title><desc id="perf-d">${esc(text)}</desc>`;
  s += `<text x="${W / 2}" y="16" text-anchor="middle" font-weight="600">Decode throughput and TPOT vs. batch</text>`;
  s += `<rect x="${L}" y="26" width="12" height="4" fill="${COLORS[0]}"/><text x="${L + 16}" y="32">tokens/s (left)</text>`;
  s += `<rect x="${L + 150}" y="26" width="12" height="4" fill="${COLORS[1]}"/><text x="${L + 166}" y="32">TPOT, ms (right)</text>`;
  s += `<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#ccd"/>`;
  for (const t of niceTicks(tmax / 1.1)) s += `<text x="${L - 6}" y="${ty(t) + 4}" text-anchor="end">${fmt(t, 0)}</text>`;
  for (const t of niceTicks(pmax / 1.1)) s += `<text x="${W - R + 6}" y="${py(t) + 4}">${fmt(t, 1)}</text>`;
  for (const b of xs) s += `<text x="${lx(b)}" y="${T + ph + 16}" text-anchor="middle">${b}</text>`;
  s += `<text x="${L + pw / 2}" y="${H - 8}" text-anchor="middle">batch (concurrent sequences of one replica)</text>`;
  s += `<text transform="translate(14 ${T + ph / 2}) rotate(-90)" text-anchor="middle">output tokens/s</text>`;
  s += `<text transform="translate(${W - 8} ${T + ph / 2}) rotate(90)" text-anchor="middle">TPOT (ms)</text>`;
  for (const [i, y, val] of [[0, ty, (e) => e.decode_tokens_per_s], [1, py, (e) => e.tpot_s * 1e3]]) {
    s += `<polyline fill="none" stroke="${COLORS[i]}" stroke-width="2" points="${pts.map((e) => `${lx(e.batch)},${y(val(e))}`).join(" ")}"/>`;
    for (const e of pts) s += `<circle cx="${lx(e.batch)}" cy="${y(val(e))}" r="3" fill="${COLORS[i]}"/>`;
  }
  $("perf-chart").innerHTML = s + "</svg>";
  $("perf-caption").textContent = text;
}

function perfText(pts) {
  return "Per replica, at the request length: " + pts.map((e) => `batch ${e.batch}: ${fmt(e.decode_tokens_per_s, 0)} tokens/s, TPOT ${secs(e.tpot_s)}`).join("; ") + ".";
}

function notComputed(id, why) { $(id).innerHTML = `<p class="na">Not computed: ${esc(why)}</p>`; }

function clearResults(why) {
  $("verdict").innerHTML = `<span class="na">${esc(why)}</span>`;
  $("summary").textContent = why;
  $("verdict-detail").innerHTML = "";
  for (const id of ["memory-chart", "perf-chart"]) notComputed(id, why);
  for (const id of ["memory-caption", "perf-caption", "plans-note", "deploy-note", "vllm-command", "cost-summary", "copy-status"]) $(id).textContent = "";
  for (const id of ["latency-table", "plans", "apis"]) table($(id), [], []);
  $("copy").hidden = true;
}

function setBusy(on, text) {
  $("status").className = on ? "busy" : "";
  $("status").textContent = text;
  $("results").classList.toggle("stale", on);
  $("results").setAttribute("aria-busy", String(on));
}

function showError(msg) { const e = $("error"); e.textContent = msg || ""; e.hidden = !msg; }

function layout(p) {
  const each = p.tensor_parallel_size * p.pipeline_parallel_size;
  return `${p.replicas} replica${p.replicas > 1 ? "s" : ""} × ${each} ${p.gpu} = ${p.gpu_count} GPUs` +
    (p.tensor_parallel_size > 1 ? ` (tensor parallel ${p.tensor_parallel_size})` : "") +
    (p.pipeline_parallel_size > 1 ? ` (pipeline ${p.pipeline_parallel_size})` : "");
}

// ---------- the update ----------
async function settle(promise) { try { return {ok: true, value: await promise}; } catch (e) { return {ok: false, error: e}; } }

async function update() {
  const mine = ++generation;
  inflight.abort();
  inflight = new AbortController();
  saveState();
  const {v, problems} = readInputs();
  if (problems.length) { showError(problems.join("; ")); clearResults("Fix the highlighted input."); setBusy(false, ""); return; }
  setBusy(true, "Updating…");
  let model;
  try { model = await resolveModel(); } catch (e) {
    if (mine !== generation) return;
    showError(e.message); clearResults("No model to size."); setBusy(false, ""); return;
  }
  if (mine !== generation) return;
  const base = {...model.query, quant: v.quant, gpu: v.gpu};
  const slo = `e2e_p95=${v.latency}s`;
  const memoryP = settle(api("/api/memory", {...base, gpus: v.gpus, batch: v.users, context: v.prompt + v.output}));
  const simP = settle(api("/api/simulate", {...base, tp: v.gpus, users: v.users, think_s: 0, context: v.context,
    prompt: String(v.prompt), output: String(v.output), requests: 300, slo}));
  const planP = settle(api("/api/plan", {...base, users: v.users, prompt: v.prompt, output: v.output, context: v.context, slo}));
  const mem = await memoryP;
  if (mine !== generation) return;
  let perfP = Promise.resolve({ok: false, error: new ApiError("the model does not load on this GPU")});
  if (mem.ok) {
    drawMemory(mem.value);
    if (!model.row) {  // a pasted config.json: say what it is, as for catalog models
      const m = mem.value, moe = m.params_active !== m.params_total;
      $("model-note").textContent = `Sizing the pasted config.json: ${m.model} · ` + (moe ?
        `${params(m.params_total)} parameters in all, ${params(m.params_active)} active per token (MoE: all must be in memory)` :
        `${params(m.params_total)} parameters`);
    }
    const most = Math.max(1, mem.value.max_concurrent_sequences);
    const sweep = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].filter((b) => b * 1.5 <= most);
    if (most <= 512) sweep.push(most);
    if (mem.value.max_concurrent_sequences >= 1) perfP = settle(api("/api/perf", {...base, tp: v.gpus, context: v.prompt + v.output, prompt: v.prompt, output: v.output, sweep}));
  } else {
    notComputed("memory-chart", mem.error.message); $("memory-caption").textContent = "";
  }
  const [sim, plan, perf] = await Promise.all([simP, planP, perfP]);
  if (mine !== generation) return;
  if (perf.ok) drawPerf(perf.value); else { notComputed("perf-chart", perf.error.message); $("perf-caption").textContent = ""; }
  drawLatency(sim);
  drawPlans(plan, v);
  drawVerdict(v, mem, sim, plan);
  const errors = [mem, sim, plan].filter((r) => !r.ok && !(r.error instanceof ApiError && /does not fit|do not fit|not fit/.test(r.error.message)));
  showError(errors.length ? [...new Set(errors.map((r) => r.error.message))].join(" · ") : "");
  await drawCost(plan, v, mine);
  if (mine === generation) setBusy(false, "Updated.");
}

function drawLatency(sim) {
  if (!sim.ok) { table($("latency-table"), ["Latency"], [[`<span class="na">Not simulated: ${esc(sim.error.message)}</span>`]]); return; }
  const s = sim.value;
  $("latency-caption").textContent = `Simulated: ${fmt(s.requests)} requests from the given users, no think time, on ${s.replicas} × ${s.tensor_parallel_size} ${s.gpu}`;
  table($("latency-table"), ["", "p50", "p90", "p95", "p99"], [["Time to first token", "ttft_s"], ["Time per output token", "tpot_s"], ["End to end", "e2e_s"], ["Waiting in queue", "queue_s"]]
    .map(([n, k]) => [n, ...["p50", "p90", "p95", "p99"].map((p) => secs(s[k][p]))]));
}

function drawPlans(plan, v) {
  $("copy").hidden = true; $("copy-status").textContent = "";
  if (!plan.ok) {
    table($("plans"), ["Plans"], [[`<span class="na">${esc(plan.error.message)}</span>`]]);
    $("plans-note").textContent = ""; $("deploy-note").textContent = ""; $("vllm-command").textContent = "";
    return;
  }
  const p = plan.value;
  $("plans-caption").textContent = `Cheapest layouts of ${v.gpu} that fit with 20% headroom and meet end-to-end p95 ≤ ${secs(v.latency)} for ${fmt(v.users)} users`;
  table($("plans"), ["#", "Layout", "Format", "$/hour", "$/1M output tokens", "e2e p95"],
    p.plans.map((q, i) => [i + 1, layout(q), q.quantization, usd(q.cost_usd_per_hour), usd(q.cost_usd_per_million_output_tokens), secs(q.predicted.e2e_s.p95)]));
  $("plans-note").textContent = friendly((p.notes || []).join(" ")) || (p.plans.length ? "" : "No layout of this GPU meets the target.");
  if (!p.plans.length) { $("deploy-note").textContent = "No plan to deploy."; $("vllm-command").textContent = ""; return; }
  const best = p.plans[0];
  $("deploy-note").textContent = `Plan 1 runs ${layout(best)} on ${best.instances} × ${best.instance_type}` +
    (best.replicas > 1 ? `: start this command on each of the ${best.replicas} replicas and put a load balancer in front of them.` : ": one replica, this command:");
  $("vllm-command").textContent = best.vllm_command;
  $("copy").hidden = false;
}

function drawVerdict(v, mem, sim, plan) {
  const detail = [];
  const where = mem.ok ? `${mem.value.gpus} × ${mem.value.gpu}` : `${v.gpus} × ${v.gpu}`;
  let fits = false, fast = false;
  if (mem.ok) {
    const m = mem.value, g = m.per_gpu;
    fits = m.fits;
    detail.push(`Memory: ${fmt(v.users)} users × ${fmt(v.prompt + v.output)} tokens need ${gb(g.total_bytes)} per GPU ` +
      `(weights ${gb(g.weights_bytes)}, KV cache ${gb(g.kv_cache_bytes)}); the limit is ${gb(m.usable_bytes_per_gpu)}, ` +
      `${fmt((1 - m.headroom) * 100, 0)}% of the ${gb(m.gpu_memory_bytes)} GPU, keeping ${fmt(m.headroom * 100, 0)}% headroom. ` +
      (fits ? "Fits." : `Does not fit: ${fmt(m.max_concurrent_sequences)} such sequences fit at once.`));
  } else detail.push(`Memory: ${mem.error.message}`);
  if (sim.ok) {
    const p95 = sim.value.e2e_s.p95;
    fast = p95 !== null && p95 <= v.latency;
    detail.push(`Latency: simulated end-to-end p95 ${secs(p95)} against the ${secs(v.latency)} target (TTFT p95 ${secs(sim.value.ttft_s.p95)}, ` +
      `TPOT p95 ${secs(sim.value.tpot_s.p95)}). ${fast ? "Meets it." : "Too slow."}`);
  } else detail.push(`Latency: not simulated (${sim.error.message}).`);
  const best = plan.ok && plan.value.plans.length ? plan.value.plans[0] : null;
  let line;
  if (fits && fast) {
    line = `<span class="serves">SERVES</span> ${fmt(v.users)} users on ${esc(where)} at end-to-end p95 ${secs(sim.value.e2e_s.p95)} (target ${secs(v.latency)}).`;
    if (best) line += ` Cheapest layout of ${esc(v.gpu)} for this traffic: ${esc(layout(best))}, ${usd(best.cost_usd_per_hour)}/hour.`;
  } else {
    const loads = mem.ok && mem.value.max_concurrent_sequences >= 1;
    const why = !mem.ok ? mem.error.message.replace(/\.$/, "") :
      !loads ? `the model does not load: its weights alone take ${gb(mem.value.per_gpu.weights_bytes)} per GPU against a limit of ${gb(mem.value.usable_bytes_per_gpu)}` :
      !fits ? `the KV cache for all users does not fit with 20% headroom (${fmt(mem.value.max_concurrent_sequences)} of ${fmt(v.users)} fit at once)` :
      !sim.ok ? "it could not be simulated" : `end-to-end p95 is ${secs(sim.value.e2e_s.p95)} against the ${secs(v.latency)} target`;
    line = `<span class="fails">DOES NOT SERVE</span> ${fmt(v.users)} users on ${esc(where)}: ${esc(why)}.`;
    line += best ? ` Cheapest fix: ${esc(layout(best))}, ${esc(best.quantization)}, ${usd(best.cost_usd_per_hour)}/hour (plan 1 below).`
      : ` No layout of ${esc(v.gpu)} meets the target${plan.ok && plan.value.notes.length ? ": " + esc(plan.value.notes[0]) : ""}.`;
  }
  if (best) detail.push(`Cost: plan 1 costs ${usd(best.cost_usd_per_hour)}/hour, ${usd(best.cost_usd_per_million_output_tokens)} per 1M output tokens.`);
  $("verdict").innerHTML = line;
  $("summary").innerHTML = `<a href="#verdict-card">${fits && fast ? '<span class="serves">SERVES</span>' : '<span class="fails">DOES NOT SERVE</span>'} ` +
    `${fmt(v.users)} users on ${esc(where)}${sim.ok ? ` · p95 ${secs(sim.value.e2e_s.p95)} (target ${secs(v.latency)})` : ""}</a>`;
  $("verdict-detail").innerHTML = detail.map((d) => `<li>${esc(d)}</li>`).join("");
}

async function drawCost(plan, v, mine) {
  const best = plan.ok && plan.value.plans.length ? plan.value.plans[0] : null;
  if (!best) { $("cost-summary").textContent = "No plan to price."; table($("apis"), [], []); return; }
  const cost = await settle(api("/api/cost", {usd_per_hour: best.cost_usd_per_hour, tokens_per_day: v.tokens_per_day}));
  if (mine !== generation) return;
  if (!cost.ok) { $("cost-summary").textContent = "Not priced: " + cost.error.message; return; }
  const c = cost.value, h = c.monthly_usd;
  $("cost-summary").textContent = `Plan 1 costs ${usd(c.monthly_total_usd, 0)} a month: GPUs ${usd(h.gpu_compute_usd, 0)}, plus the costs ` +
    `of running it yourself: engineering time ${usd(h.engineering_usd, 0)}, monitoring ${usd(h.monitoring_usd, 0)}, storage ${usd(h.storage_usd, 0)}. ` +
    `At ${fmt(v.tokens_per_day, 0)} tokens a day: ${RECOMMENDATION[c.recommendation] || c.recommendation}, because ${c.recommendation_reason}.`;
  table($("apis"), ["API", "$/1M input", "$/1M output", "$/month for your volume", "break-even tokens/day"],
    c.apis.map((a) => [esc(a.name), usd(a.usd_per_million_input_tokens), usd(a.usd_per_million_output_tokens),
      usd(a.monthly_usd, 0), a.break_even_tokens_per_day === null ? "never" : fmt(a.break_even_tokens_per_day, 0)]));
}

function schedule(delay = 400) { clearTimeout(timer); timer = setTimeout(update, delay); }

async function init() {
  const [gpus, quants] = await Promise.all([api("/api/gpus"), api("/api/quants")]);
  gpuRows = gpus;
  $("gpu").innerHTML = gpus.map((g) => `<option value="${esc(g.id)}">${esc(g.id)} (${gb(g.memory_bytes)})</option>`).join("");
  $("gpu").value = "A100-SXM-80GB";
  $("quant").innerHTML += quants.map((q) => `<option value="${esc(q.id)}">${esc(q.id)}</option>`).join("");
  $("quant").value = "awq";
  loadState();
  for (const f of FIELDS) if (f !== "model") $(f).addEventListener("input", () => schedule());
  $("config").addEventListener("input", () => schedule(600));
  $("model").addEventListener("input", onModelInput);
  $("model").addEventListener("keydown", onModelKey);
  $("model").addEventListener("blur", () => setTimeout(() => { $("model-options").hidden = true; $("model").setAttribute("aria-expanded", "false"); }, 150));
  $("model-options").addEventListener("mousedown", (ev) => { const li = ev.target.closest("li"); if (li) { ev.preventDefault(); pick(li.dataset.id); } });
  $("config-file").addEventListener("change", async (ev) => {
    const file = ev.target.files[0]; if (file) { $("config").value = await file.text(); $("config-box").open = true; schedule(0); }
  });
  $("copy").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("vllm-command").textContent); $("copy-status").textContent = "Copied."; }
    catch (e) { $("copy-status").textContent = "Copy failed: select the command and copy it by hand."; }
  });
  update();
}

init().catch((e) => showError("The page could not start: " + e.message));
