// canserve web page: read the form, call the HTTP API, draw. State lives in the URL.
"use strict";
const $ = (id) => document.getElementById(id);
const FIELDS = ["model", "quant", "gpu", "gpus", "users", "prompt", "output", "context", "latency", "tokens_per_day"];
const GB = 1e9, GIB = 2 ** 30;
let timer = null, generation = 0;

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} :
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const data = await res.json();
  if (!res.ok) {
    const d = data.detail;
    const msg = Array.isArray(d) ? d.map((e) => `${e.loc.slice(1).join(".")}: ${e.msg}`).join("; ") : d;
    throw new Error(msg || `HTTP ${res.status}`);
  }
  return data;
}

function num(id) { const v = $(id).value; return v === "" ? null : Number(v); }

function modelInput() {
  const text = $("config").value.trim();
  if (text) {
    try { return {config: JSON.parse(text)}; }
    catch (e) { throw new Error("config.json: " + e.message); }
  }
  return {model: $("model").value.trim()};
}

function saveState() {
  const params = new URLSearchParams();
  for (const f of FIELDS) if ($(f).value !== "") params.set(f, $(f).value);
  history.replaceState(null, "", "?" + params.toString());
}

function loadState() {
  const params = new URLSearchParams(location.search);
  for (const f of FIELDS) if (params.has(f)) $(f).value = params.get(f);
}

function showError(msg) { const e = $("error"); e.textContent = msg; e.hidden = !msg; }
function fmt(x, d = 2) { return Number(x).toLocaleString(undefined, {maximumFractionDigits: d}); }
function ms(s) { return fmt(s * 1e3, 1) + " ms"; }

function table(el, head, rows) {
  el.innerHTML = "<tr>" + head.map((h) => `<th>${h}</th>`).join("") + "</tr>" +
    rows.map((r) => "<tr>" + r.map((c) => `<td>${c}</td>`).join("") + "</tr>").join("");
}

function drawMemory(m) {
  const g = m.per_gpu, parts = [["weights", g.weights_bytes], ["KV cache", g.kv_cache_bytes],
    ["activations", g.activation_bytes], ["overhead", g.overhead_bytes]];
  const traces = parts.map(([name, b]) => ({type: "bar", orientation: "h", name, x: [b / GB], y: ["per GPU"]}));
  const shapes = [];
  if (m.gpu_memory_bytes) {
    const line = m.gpu_memory_bytes * (1 - m.headroom) / GB;
    shapes.push({type: "line", x0: line, x1: line, y0: -0.5, y1: 0.5, line: {color: "red", dash: "dash"}});
    shapes.push({type: "line", x0: m.gpu_memory_bytes / GB, x1: m.gpu_memory_bytes / GB, y0: -0.5, y1: 0.5, line: {color: "black"}});
  }
  if (window.Plotly) Plotly.react("memory-chart", traces, {barmode: "stack", shapes, height: 280,
    xaxis: {title: "GB per GPU (red: 20% headroom line, black: capacity)"}, margin: {t: 10}}, {displayModeBar: false});
}

function drawPerf(curve) {
  const x = curve.map((e) => e.batch);
  const traces = [{x, y: curve.map((e) => e.decode_tokens_per_s), name: "tok/s", mode: "lines+markers"},
    {x, y: curve.map((e) => (e.fits ? e.tpot_s * 1e3 : null)), name: "TPOT ms", yaxis: "y2", mode: "lines+markers"}];
  if (window.Plotly) Plotly.react("perf-chart", traces, {height: 280, margin: {t: 10},
    xaxis: {type: "log", title: "batch"}, yaxis: {title: "tokens/s"},
    yaxis2: {title: "TPOT (ms)", overlaying: "y", side: "right"}}, {displayModeBar: false});
}

async function update() {
  const mine = ++generation;
  saveState();
  let model;
  try { model = modelInput(); } catch (e) { showError(e.message); return; }
  const gpu = $("gpu").value, gpus = num("gpus"), users = num("users"), context = num("context");
  const prompt = num("prompt"), output = num("output"), quant = $("quant").value || null;
  try {
    const m = await api("/api/memory", {...model, quant, gpu, gpus, batch: users, context});
    if (mine !== generation) return;
    showError("");
    const v = $("verdict");
    const load = (m.per_gpu.weights_bytes + m.per_gpu.overhead_bytes) / GB;
    v.innerHTML = `<span class="${m.fits ? "fits" : "nofit"}">${m.fits ? "FITS" : "DOES NOT FIT"}</span> on ` +
      `${m.gpus} × ${m.gpu}: loads with ${fmt(load)} GB per GPU; serving ${m.batch} × ${fmt(m.context, 0)} ` +
      `tokens needs ${fmt(m.per_gpu.total_bytes / GB)} GB (${fmt(m.per_gpu.total_bytes / GIB)} GiB) per GPU of ` +
      `${fmt(m.gpu_memory_bytes / GB)} GB.`;
    $("max-concurrency").textContent = fmt(m.max_concurrent_sequences, 0);
    drawMemory(m);
    const curve = await api("/api/perf", {...model, quant, gpu, tp: gpus, context: prompt + output,
      sweep: [1, 2, 4, 8, 16, 32, 64, 128, 256]});
    if (mine !== generation) return;
    drawPerf(curve);
    const sim = await api("/api/simulate", {...model, quant, gpu, tp: gpus, users, think_s: 0,
      prompt: String(prompt), output: String(output), requests: 300});
    if (mine !== generation) return;
    table($("latency-table"), ["", "p50", "p90", "p95", "p99"], [["TTFT", "ttft_s"], ["TPOT", "tpot_s"], ["end-to-end", "e2e_s"]]
      .map(([n, k]) => [n, ...["p50", "p90", "p95", "p99"].map((p) => ms(sim[k][p]))]));
    const latency = num("latency");
    const plan = await api("/api/plan", {...model, users, prompt, output, context, gpu, quant,
      slo: latency ? `e2e_p95=${latency}s` : null});
    if (mine !== generation) return;
    table($("plans"), ["#", "GPUs", "tp × replicas", "format", "$/hour", "$/1M out", "e2e p95"],
      plan.plans.map((p, i) => [i + 1, `${p.gpu_count} × ${p.gpu}`, `${p.tensor_parallel_size} × ${p.replicas}`,
        p.quantization, "$" + fmt(p.cost_usd_per_hour), "$" + fmt(p.cost_usd_per_million_output_tokens),
        fmt(p.predicted.e2e_s.p95) + " s"]));
    $("vllm-command").textContent = plan.plans.length ? plan.plans[0].vllm_command : plan.notes.join(" ");
    if (plan.plans.length) {
      const best = plan.plans[0];
      const cost = await api("/api/cost", {usd_per_hour: best.cost_usd_per_hour, tokens_per_day: num("tokens_per_day")});
      if (mine !== generation) return;
      $("cost-summary").textContent = `Plan 1 costs $${fmt(cost.monthly_total_usd, 0)} a month with hidden costs; ` +
        `recommendation at ${fmt(num("tokens_per_day"), 0)} tokens/day: ${cost.recommendation}.`;
      table($("apis"), ["API", "$/1M in", "$/1M out", "$/month for your volume", "break-even tokens/day"],
        cost.apis.map((a) => [a.name, fmt(a.usd_per_million_input_tokens), fmt(a.usd_per_million_output_tokens),
          "$" + fmt(a.monthly_usd, 0), a.break_even_tokens_per_day === null ? "never" : fmt(a.break_even_tokens_per_day, 0)]));
    }
  } catch (e) {
    if (mine === generation) showError(e.message);
  }
}

function schedule() { clearTimeout(timer); timer = setTimeout(update, 250); }

async function init() {
  const [models, gpus, quants] = await Promise.all([api("/api/models"), api("/api/gpus"), api("/api/quants")]);
  $("model-list").innerHTML = models.map((m) => `<option value="${m.id}">`).join("");
  $("gpu").innerHTML = gpus.map((g) => `<option value="${g.id}">${g.id}</option>`).join("");
  $("gpu").value = "A100-SXM-80GB";
  $("quant").innerHTML += quants.map((q) => `<option value="${q.id}">${q.id}</option>`).join("");
  $("quant").value = "awq";
  loadState();
  for (const f of [...FIELDS, "config"]) $(f).addEventListener("input", schedule);
  $("config-file").addEventListener("change", async (ev) => {
    const file = ev.target.files[0]; if (file) { $("config").value = await file.text(); schedule(); }
  });
  $("copy").addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText($("vllm-command").textContent));
  update();
}

init();
