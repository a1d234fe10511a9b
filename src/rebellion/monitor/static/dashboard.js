/* System Rebellion monitor: live charts (uPlot), history zoom, processes, resilience, events. */
"use strict";
(() => {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const LIVE_POINTS = 300;          // samples kept for the live window
  const FOLD_SECONDS = 10;          // repeats of one event from one source fold within this
  const IMPORTANT = /State|Mode|Changed|Opened|Closed|Degraded|Recovered|GaveUp|Isolat/;
  const state = {
    live: true, from: null, to: null, step: null, hist: {},
    t: [], v: {}, a: {}, analysis: {}, names: [],
    incidents: new Map(), incidentsApi: "unknown",
    sort: "cpu_percent", processes: [],
    events: [], prims: new Map(), primitives: [],
  };
  const charts = {};
  const R = window.rebellion = { samples: 0, connected: false, reconnects: 0, historyLoads: 0,
    lastHistory: null, charts, state };

  // ---- formatting ---------------------------------------------------------------------
  const PREFIX = ["", "k", "M", "G", "T", "P"];
  function si(v, unit) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    let a = Math.abs(v), i = 0;
    while (a >= 1000 && i < PREFIX.length - 1) { a /= 1000; i++; }
    const n = v / 1000 ** i, digits = Math.abs(n) >= 100 || i === 0 && Number.isInteger(n) ? 0 : Math.abs(n) >= 10 ? 1 : 2;
    return n.toFixed(digits) + " " + PREFIX[i] + unit;
  }
  const UNITS = {
    pct: v => v === null || v === undefined ? "–" : v.toFixed(1) + " %",
    bps: v => si(v, "B/s"),
    bytes: v => si(v, "B"),
    load: v => v === null || v === undefined ? "–" : v.toFixed(2),
  };
  const AXIS = { pct: v => v + " %", bps: v => si(v, "B/s"), bytes: v => si(v, "B"), load: v => String(+v.toFixed(2)) };
  function clock(t, seconds) {
    const opts = seconds ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
    return new Date(t * 1000).toLocaleTimeString([], opts);
  }
  function stamp(t, span) {
    const d = new Date(t * 1000);
    if (span > 2 * 86400) return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + clock(t, false);
    return clock(t, span < 180);
  }
  function esc(s) { return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]); }
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  const PALETTE = ["--s1", "--s2", "--s3", "--s4", "--s5", "--s6"];
  function api(path) {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    return fetch(path, { headers }).then(r => r.ok ? r.json() : Promise.reject(r.status));
  }

  // ---- chart specifications -----------------------------------------------------------
  const coreNumber = n => Number(n.slice(8));
  const SPECS = [
    { id: "cpu", unit: "pct", anomaly: true, forecast: "cpu.total", series: () => [["cpu.total", "CPU busy"]] },
    { id: "cores", unit: "pct", series: names => names.filter(n => /^cpu\.core\d+$/.test(n))
        .sort((a, b) => coreNumber(a) - coreNumber(b)).map(n => [n, "core " + coreNumber(n)]) },
    { id: "mem", unit: "pct", anomaly: true, forecast: "memory.percent",
      series: () => [["memory.percent", "memory used"], ["swap.percent", "swap used"]] },
    { id: "load", unit: "load", anomaly: true, series: () => [["load.1", "1 min"], ["load.5", "5 min"], ["load.15", "15 min"]] },
    { id: "disk", unit: "bps", anomaly: true, series: () => [["disk.read_bps", "read"], ["disk.write_bps", "write"]] },
    { id: "net", unit: "bps", anomaly: true, series: () => [["net.recv_bps", "in (received)"], ["net.sent_bps", "out (sent)"]] },
    { id: "disks", unit: "bps", series: names => instances(names, /^disk\[(.+)\]\.(read|write)_bps$/, { read: "read", write: "write" }) },
    { id: "nics", unit: "bps", series: names => instances(names, /^net\[(.+)\]\.(recv|sent)_bps$/, { recv: "in", sent: "out" }) },
  ];
  function instances(names, re, words) {
    return names.map(n => [n, re.exec(n)]).filter(([, m]) => m)
      .sort((a, b) => a[1][1].localeCompare(b[1][1]) || a[1][2].localeCompare(b[1][2]))
      .map(([n, m]) => [n, m[1] + " " + words[m[2]]]);
  }

  // Tick steps in seconds, from 1 s to 30 days.
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
    43200, 86400, 172800, 604800, 1209600, 2592000];

  function tooltip(spec) {
    let tip;
    return { hooks: {
      init: u => {
        tip = document.createElement("div"); tip.className = "tip"; tip.setAttribute("role", "tooltip");
        u.over.appendChild(tip);
        u.over.addEventListener("mouseleave", () => { tip.style.display = "none"; });
      },
      setCursor: u => {
        const i = u.cursor.idx;
        if (i === null || i === undefined || u.cursor.left < 0) { tip.style.display = "none"; return; }
        const rows = [];
        for (let s = 1; s < u.series.length; s++) {
          const v = u.data[s][i];
          if (v === null || v === undefined || !u.series[s].show || s === spec.index.lo) continue;
          rows.push(`<div><i style="background:${spec.colours[s]}"></i>${esc(u.series[s].label)}: <b>${UNITS[spec.unit](v)}</b></div>`);
        }
        if (!rows.length) { tip.style.display = "none"; return; }
        tip.innerHTML = `<div>${esc(new Date(u.data[0][i] * 1000).toLocaleString())}</div>` + rows.join("");
        tip.style.display = "block";
        const w = tip.offsetWidth, h = tip.offsetHeight, W = u.over.clientWidth, H = u.over.clientHeight;
        let left = u.cursor.left + 12, top = u.cursor.top + 12;
        if (left + w > W) left = Math.max(0, u.cursor.left - w - 12);
        if (top + h > H) top = Math.max(0, H - h);
        tip.style.left = left + "px"; tip.style.top = top + "px";
      },
    } };
  }

  function incidentShading(el) {
    return { hooks: { drawClear: u => {
      const { left, top, width, height } = u.bbox, ctx = u.ctx, now = Date.now() / 1000;
      let shaded = 0;
      ctx.save(); ctx.fillStyle = css("--shade");
      for (const inc of state.incidents.values()) {
        const a = inc.started, b = inc.ended || now;
        if (!(a <= u.scales.x.max && b >= u.scales.x.min)) continue;
        const x0 = Math.max(left, u.valToPos(a, "x", true)), x1 = Math.min(left + width, u.valToPos(b, "x", true));
        ctx.fillRect(x0, top, Math.max(2, x1 - x0), height); shaded++;
      }
      ctx.restore(); el.dataset.incidents = String(shaded);
    } } };
  }

  function buildChart(spec) {
    const el = document.getElementById("c-" + spec.id);
    if (charts[spec.id]) { charts[spec.id].destroy(); }
    el.innerHTML = "";
    spec.metrics = spec.series(state.names).filter(([m]) => state.names.includes(m));
    const fmt = UNITS[spec.unit], dim = css("--dim"), grid = css("--grid");
    const series = [{ label: "time", value: (u, v) => v === null ? "–" : new Date(v * 1000).toLocaleTimeString() }];
    spec.colours = [null]; spec.index = {};
    spec.metrics.forEach(([, label], i) => {
      const colour = css(PALETTE[i % PALETTE.length]);
      spec.colours.push(colour);
      series.push({ label, stroke: colour, width: 1.5, value: (u, v) => fmt(v), points: { show: false } });
    });
    const bands = [];
    if (spec.forecast && spec.metrics.length) {
      const fc = css("--fc");
      spec.index.fc = series.length; spec.colours.push(fc);
      series.push({ label: "forecast", stroke: fc, dash: [5, 4], width: 1.5, value: (u, v) => fmt(v), points: { show: false } });
      spec.index.hi = series.length; spec.colours.push(fc);
      series.push({ label: "forecast 95 % band", stroke: fc + "55", width: 0.5, value: (u, v) => fmt(v), points: { show: false } });
      spec.index.lo = series.length; spec.colours.push(fc);
      series.push({ label: "band low", stroke: fc + "55", width: 0.5, value: (u, v) => fmt(v), points: { show: false } });
      bands.push({ series: [spec.index.hi, spec.index.lo], fill: fc + "2e" });
    }
    if (spec.anomaly && spec.metrics.length) {
      const bad = css("--bad");
      spec.index.an = series.length; spec.colours.push(bad);
      series.push({ label: "anomaly", stroke: bad, width: 0, paths: () => null, value: (u, v) => v === null ? "–" : fmt(v),
        points: { show: true, size: 8, width: 1, fill: bad, stroke: bad } });
    }
    const yRange = spec.unit === "pct" ? [0, 100]
      : (u, min, max) => [0, Math.max((max || 0) * 1.15, spec.unit === "bps" ? 1000 : 1)];
    const axisFmt = AXIS[spec.unit];
    const opts = {
      width: Math.max(200, el.clientWidth), height: el.clientWidth < 500 ? 170 : 200,
      padding: [8, 36, 0, 0],  // room for the last time label
      series, bands,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 6 } },
      scales: {
        x: { time: true, range: (u, min, max) => state.live ? [min, max] : [state.from, state.to] },
        y: { range: yRange },
      },
      axes: [
        { stroke: dim, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, space: 92,
          incrs: TIME_STEPS,
          values: (u, splits, axis, space, step) => {
            const span = (u.scales.x.max || 0) - (u.scales.x.min || 0);
            const out = splits.map(v => span > 2 * 86400 ? stamp(v, span) : clock(v, step < 60));
            el.dataset.xTicks = out.join("|"); return out;
          } },
        { stroke: dim, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
          size: { pct: 64, bps: 92, load: 52 }[spec.unit],
          label: { pct: "%", bps: "bytes / s", load: "runnable" }[spec.unit], labelSize: 18,
          values: (u, splits) => { const out = splits.map(axisFmt); el.dataset.yTicks = out.join("|"); return out; } },
      ],
      hooks: { setSelect: [u => {
        if (u.select.width < 4) return;
        const a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
        showRange(a, b);
      }] },
      plugins: [tooltip(spec), incidentShading(el)],
    };
    const u = new uPlot(opts, withGaps(dataFor(spec), Math.max(5, 5 * intervalGuess())), el);
    charts[spec.id] = u;
    // The legend names every line; the time column and the band's lower edge add nothing.
    const rows = u.root.querySelectorAll(".u-legend .u-series");
    [0, spec.index.lo].forEach(i => { if (i !== undefined && rows[i]) rows[i].style.display = "none"; });
    el.dataset.series = String(spec.metrics.length);
    el.setAttribute("role", "img");
    el.setAttribute("aria-label", `${spec.id} chart: ${spec.metrics.map(m => m[1]).join(", ")}; drag to zoom into a range`);
  }

  function dataFor(spec) {
    if (!spec.metrics) return [[]];
    if (!state.live) {
      const xs = [...new Set(spec.metrics.flatMap(([m]) => (state.hist[m] || []).map(p => p.at)))].sort((a, b) => a - b);
      const pos = new Map(xs.map((x, i) => [x, i]));
      const out = [xs];
      spec.metrics.forEach(([m]) => {
        const col = new Array(xs.length).fill(null);
        (state.hist[m] || []).forEach(p => { col[pos.get(p.at)] = p.mean; });
        out.push(col);
      });
      const first = spec.metrics.length ? state.hist[spec.metrics[0][0]] || [] : [];
      const edge = key => { const col = new Array(xs.length).fill(null); first.forEach(p => { col[pos.get(p.at)] = p[key]; }); return col; };
      if (spec.index.fc) out.push(new Array(xs.length).fill(null), edge("max"), edge("min"));  // the bucket's spread
      if (spec.index.an) out.push(new Array(xs.length).fill(null));
      return out;
    }
    const t = state.t.slice(), n = t.length;
    const cols = spec.metrics.map(([m]) => (state.v[m] || []).slice());
    const first = spec.metrics.length ? spec.metrics[0][0] : null;
    const a = first && state.analysis[first];
    const future = spec.index.fc && a && a.forecast !== null && a.horizon && n;
    if (future) { t.push(t[n - 1] + a.horizon); cols.forEach(c => c.push(null)); }
    const out = [t, ...cols];
    out.real = n;  // the forecast's future point is not a gap
    if (spec.index.fc) {
      const fc = new Array(t.length).fill(null), hi = fc.slice(), lo = fc.slice();
      if (future) {
        const last = cols[0][n - 1];
        fc[n - 1] = hi[n - 1] = lo[n - 1] = last;
        fc[n] = a.forecast;
        hi[n] = a.forecast_hi === null || a.forecast_hi === undefined ? a.forecast : a.forecast_hi;
        lo[n] = a.forecast_lo === null || a.forecast_lo === undefined ? a.forecast : a.forecast_lo;
        if (spec.unit === "pct") { hi[n] = Math.min(100, hi[n]); lo[n] = Math.max(0, lo[n]); fc[n] = Math.min(100, Math.max(0, fc[n])); }
      }
      out.push(fc, hi, lo);
    }
    if (spec.index.an) {
      const flags = state.a[first] || [], col = new Array(t.length).fill(null);
      for (let i = 0; i < n; i++) if (flags[i]) col[i] = cols[0][i];
      out.push(col);
    }
    return out;
  }

  // Break lines where samples are missing (a restart, a suspended laptop) instead of
  // drawing a slope across the hole: insert one empty row inside every long gap.
  function withGaps(data, limit) {
    const t = data[0], out = data.map(() => []), real = data.real === undefined ? t.length : data.real;
    for (let i = 0; i < t.length; i++) {
      if (i && i < real && t[i] - t[i - 1] > limit) out.forEach((col, k) => col.push(k ? null : (t[i] + t[i - 1]) / 2));
      out.forEach((col, k) => col.push(data[k][i]));
    }
    return out;
  }

  function drawAll() {
    if (document.hidden) return;
    for (const spec of SPECS) {
      const u = charts[spec.id]; if (!u) continue;
      const limit = state.live ? Math.max(5, 5 * intervalGuess()) : 3 * state.step;
      if (spec.index.hi) {  // the band is the forecast's live, each bucket's min-max in history
        const label = state.live ? "forecast 95 % band" : "min–max per bucket";
        u.series[spec.index.hi].label = label;
        const cell = u.root.querySelectorAll(".u-legend .u-series")[spec.index.hi];
        if (cell) cell.querySelector(".u-label").textContent = label;
      }
      u.setData(withGaps(dataFor(spec), limit), true);
      document.getElementById("c-" + spec.id).dataset.points = String(u.data[0].length);
    }
  }
  function rebuildAll() { SPECS.forEach(buildChart); drawAll(); }

  // ---- live data and history ----------------------------------------------------------
  function tracked() { return [...new Set(SPECS.flatMap(s => (s.metrics || []).map(m => m[0])))]; }
  function pushSample(m) {
    const values = m.values || {}, analysis = m.analysis || {};
    if (state.t.length && m.at <= state.t[state.t.length - 1]) return;
    state.t.push(m.at);
    for (const name of tracked()) {
      (state.v[name] = state.v[name] || []).push(values[name] === undefined ? null : values[name]);
      (state.a[name] = state.a[name] || []).push(!!(analysis[name] && analysis[name].anomaly));
    }
    const excess = state.t.length - LIVE_POINTS;
    if (excess > 0) {
      state.t.splice(0, excess);
      for (const k in state.v) state.v[k].splice(0, excess);
      for (const k in state.a) state.a[k].splice(0, excess);
    }
    state.analysis = analysis;
  }
  async function loadLive() {
    const names = tracked(), since = -LIVE_POINTS;
    const got = await Promise.all(names.map(n => api(`/api/v1/history?metric=${encodeURIComponent(n)}&since=${since}`)
      .then(b => [n, b.points]).catch(() => [n, []])));
    const xs = [...new Set(got.flatMap(([, ps]) => ps.map(p => p.at)))].sort((a, b) => a - b).slice(-LIVE_POINTS);
    const pos = new Map(xs.map((x, i) => [x, i]));
    state.t = xs; state.v = {}; state.a = {};
    for (const [n, ps] of got) {
      const col = new Array(xs.length).fill(null);
      ps.forEach(p => { if (pos.has(p.at)) col[pos.get(p.at)] = p.mean; });
      state.v[n] = col; state.a[n] = new Array(xs.length).fill(false);
    }
  }
  let rangeGen = 0;
  async function showRange(from, to) {
    const gen = ++rangeGen;
    state.live = false; state.from = from; state.to = to;
    const width = Math.max(200, Math.min(1200, document.getElementById("c-cpu").clientWidth || 600));
    state.step = Math.max(1, Math.ceil((to - from) / width));
    updateRangeUi();
    const names = tracked();
    const got = await Promise.all(names.map(n =>
      api(`/api/v1/history?metric=${encodeURIComponent(n)}&since=${from}&until=${to}&step=${state.step}&max_points=10000`)
        .then(b => [n, b.points]).catch(() => [n, []])));
    if (gen !== rangeGen || state.live) return;
    state.hist = Object.fromEntries(got);
    R.historyLoads++;
    R.lastHistory = { from, to, step: state.step, points: got.reduce((s, [, ps]) => s + ps.length, 0) };
    updateRangeUi();
    drawAll();
  }
  async function goLive() {
    rangeGen++;
    state.live = true; state.hist = {};
    updateRangeUi();
    await loadLive();
    drawAll();
  }
  function updateRangeUi() {
    const label = document.getElementById("range-label");
    if (state.live) label.textContent = "live · last " + Math.round(LIVE_POINTS * intervalGuess() / 60) + " min";
    else label.textContent = `${stamp(state.from, state.to - state.from)} – ${stamp(state.to, state.to - state.from)} · ${state.step} s per point`;
    document.getElementById("live").setAttribute("aria-pressed", String(state.live));
    document.querySelectorAll("[data-range]").forEach(b => {
      const span = Number(b.dataset.range);
      b.setAttribute("aria-pressed", String(!state.live && Math.abs((state.to - state.from) - span) < 1));
    });
  }
  function intervalGuess() {
    const t = state.t; return t.length > 2 ? Math.max(0.05, (t[t.length - 1] - t[0]) / (t.length - 1)) : 1;
  }

  // ---- panels ------------------------------------------------------------------------
  const byId = id => document.getElementById(id);
  function bracketed(values, group) {
    const out = {}, re = new RegExp("^" + group + "\\[(.+)\\]\\.?(.*)$");
    for (const [k, v] of Object.entries(values)) {
      const m = re.exec(k); if (!m) continue;
      (out[m[1]] = out[m[1]] || {})[m[2] || "value"] = v;
    }
    return out;
  }
  function fillTable(id, rows) {
    const body = document.querySelector(`#${id} tbody`);
    body.innerHTML = rows.join("");
  }
  function onSample(m) {
    R.samples++;
    const values = m.values || {};
    if (!state.names.length) { state.names = Object.keys(values); rebuildAll(); }
    pushSample(m);
    byId("v-cpu").textContent = UNITS.pct(values["cpu.total"]);
    const cores = Object.keys(values).filter(k => /^cpu\.core\d+$/.test(k)).length;
    byId("v-cores").textContent = cores + " cores";
    byId("v-mem").textContent = `memory ${UNITS.pct(values["memory.percent"])} · swap ${UNITS.pct(values["swap.percent"])}`;
    byId("v-load").textContent = [values["load.1"], values["load.5"], values["load.15"]].map(UNITS.load).join(" · ");
    byId("v-disk").textContent = `read ${UNITS.bps(values["disk.read_bps"])} · write ${UNITS.bps(values["disk.write_bps"])}`;
    byId("v-net").textContent = `in ${UNITS.bps(values["net.recv_bps"])} · out ${UNITS.bps(values["net.sent_bps"])}`;
    byId("host").textContent = `${cores} cores · memory ${UNITS.bytes((values["memory.used"] || 0) + (values["memory.available"] || 0))}`;
    if (document.hidden) return;
    if (state.live) drawAll();
    const procs = m.processes || [], sig = procs.length + ":" + procs.map(p => p.pid + "/" + p.cpu_percent).join(",");
    if (sig !== state.procSig) { state.procSig = sig; state.processes = procs; renderProcesses(); }
    renderDevices(values, m.disks || {});
  }
  function renderProcesses() {
    const key = state.sort, rows = state.processes.slice().sort((a, b) => (b[key] || 0) - (a[key] || 0));
    byId("proc-count").textContent = rows.length + " shown";
    fillTable("procs", rows.map(p => `<tr data-pid="${p.pid}" data-${key.replace("_", "-")}="${p[key] || 0}"><td class="num">${p.pid}</td><td class="narrow-hide">${esc(p.user || "")}</td>` +
      `<td class="cmd" title="${esc(p.cmdline || p.name)}"><b>${esc(p.name)}</b> ${esc(p.cmdline || "")}</td>` +
      `<td class="num narrow-hide">${p.threads || 1}</td><td class="num">${(p.cpu_percent || 0).toFixed(1)}</td>` +
      `<td class="num">${UNITS.bytes(p.memory_rss)}</td><td class="num">${UNITS.bps(p.io_bps || 0)}</td></tr>`));
  }
  function renderDevices(values, disks) {
    const rows = [];
    for (const [dev, f] of Object.entries(bracketed(values, "disk")))
      rows.push(`<tr><td>disk ${esc(dev)}</td><td class="num">${UNITS.bps(f.read_bps)}</td><td class="num">${UNITS.bps(f.write_bps)}</td></tr>`);
    for (const [nic, f] of Object.entries(bracketed(values, "net")))
      rows.push(`<tr><td>net ${esc(nic)}</td><td class="num">${UNITS.bps(f.recv_bps)}</td><td class="num">${UNITS.bps(f.sent_bps)}</td></tr>`);
    fillTable("devices", rows);
    const fs = bracketed(values, "fs");
    fillTable("fs", Object.entries(disks).map(([mount, pct]) => {
      const used = fs[mount] && fs[mount].used;
      return `<tr><td>${esc(mount)}</td><td><div class="bar${pct >= 90 ? " hot" : ""}" role="img" aria-label="${pct.toFixed(0)} % used">` +
        `<span style="width:${Math.min(100, pct)}%"></span></div></td><td class="num">${pct.toFixed(1)}${used ? " · " + UNITS.bytes(used) : ""}</td></tr>`;
    }));
    const groups = Object.entries(bracketed(values, "cgroup")).sort((a, b) => (b[1].memory || 0) - (a[1].memory || 0));
    fillTable("cgroups", groups.map(([g, f]) => `<tr><td>${esc(g)}</td><td class="num">${UNITS.pct(f.cpu_percent)}</td><td class="num">${UNITS.bytes(f.memory)}</td></tr>`));
    byId("cgroups-empty").style.display = groups.length ? "none" : "";
    const sensors = [...Object.entries(bracketed(values, "temp")).map(([c, f]) => `<tr><td>${esc(c)}</td><td class="num">${f.value.toFixed(1)} °C</td></tr>`),
      ...Object.entries(bracketed(values, "fan")).map(([c, f]) => `<tr><td>${esc(c)} fan</td><td class="num">${f.value.toFixed(0)} RPM</td></tr>`)];
    fillTable("sensors", sensors);
    byId("sensors-empty").style.display = sensors.length ? "none" : "";
  }

  // ---- resilience ----------------------------------------------------------------------
  const sum = (s, keys) => keys.reduce((t, k) => t + (typeof s[k] === "number" ? s[k] : 0), 0);
  function counters(s) {
    const calls = typeof s.calls === "number" ? s.calls
      : sum(s, ["successful_calls", "failed_calls", "rejected_calls"]) || sum(s, ["total_requests", "requests", "processed", "window_requests"]);
    // The shared snapshot vocabulary first ("rejections"), then the older per-kind names.
    const rejected = typeof s.rejections === "number" ? s.rejections
      : sum(s, ["rejected_calls", "rejected", "refused", "dropped", "shed", "timeouts"]) || (typeof s.fallbacks === "number" ? s.fallbacks : 0);
    return [calls, rejected];
  }
  function stateClass(st) {
    const s = String(st).toUpperCase();
    if (/^(CLOSED|NORMAL|OK|HEALTHY|UP|RUNNING)$/.test(s)) return "good";
    if (/HALF|DEGRADED|WARN|PENDING/.test(s)) return "mid";
    if (/OPEN|ISOLATED|EMERGENCY|DOWN|FAIL|CRITICAL/.test(s)) return "bad";
    return "";
  }
  function stateOf(s) { return s.state || s.mode || s.status || (s.enabled === false ? "disabled" : "active"); }
  function detailOf(s) {
    const keys = ["failure_rate", "in_flight", "active", "queued", "limit", "inflight", "pending", "buffer_size", "rate", "retries", "fallbacks", "available"];
    return keys.filter(k => s[k] !== undefined && s[k] !== null && typeof s[k] !== "object")
      .map(k => k.replace(/_/g, " ") + " " + (typeof s[k] === "number" ? +s[k].toFixed(3) : s[k])).slice(0, 3).join(" · ");
  }
  function spark(hist) {
    const w = 90, h = 22, n = hist.calls.length;
    if (n < 2) return `<svg class="spark" viewBox="0 0 ${w} ${h}" aria-hidden="true"></svg>`;
    const max = Math.max(1, ...hist.calls, ...hist.rej);
    const line = a => a.map((v, i) => `${(i * w / (n - 1)).toFixed(1)},${(h - 1 - v * (h - 2) / max).toFixed(1)}`).join(" ");
    return `<svg class="spark" viewBox="0 0 ${w} ${h}" aria-hidden="true"><polyline class="calls" points="${line(hist.calls)}"/><polyline class="rej" points="${line(hist.rej)}"/></svg>`;
  }
  function onPrimitives(list) {
    const shown = list.filter(p => !String(p.name).startsWith("ws-client-"));
    const live = new Set();
    for (const p of shown) {
      const key = p.kind + "/" + p.name; live.add(key);
      const [calls, rej] = counters(p.stats || {});
      let h = state.prims.get(key);
      if (!h) { h = { calls: [], rej: [], last: [calls, rej] }; state.prims.set(key, h); }
      h.calls.push(Math.max(0, calls - h.last[0])); h.rej.push(Math.max(0, rej - h.last[1]));
      if (h.calls.length > 30) { h.calls.shift(); h.rej.shift(); }
      h.last = [calls, rej]; h.total = [calls, rej];
    }
    for (const key of [...state.prims.keys()]) if (!live.has(key)) state.prims.delete(key);
    state.primitives = shown;
    const kinds = [...new Set(shown.map(p => p.kind))].sort(), select = byId("f-kind"), chosen = select.value;
    const have = [...select.options].map(o => o.value).slice(1);
    if (have.join() !== kinds.join()) {
      select.innerHTML = `<option value="">all</option>` + kinds.map(k => `<option>${esc(k)}</option>`).join("");
      select.value = kinds.includes(chosen) ? chosen : "";
    }
    renderResilience();
  }
  function renderResilience() {
    const kind = byId("f-kind").value, needle = byId("f-name").value.trim().toLowerCase();
    const rows = state.primitives.filter(p => (!kind || p.kind === kind) && (!needle || p.name.toLowerCase().includes(needle)))
      .sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
    const html = []; let group = null;
    for (const p of rows) {
      if (p.kind !== group) { group = p.kind; html.push(`<tr class="group"><th colspan="4" scope="colgroup">${esc(group.replace(/_/g, " "))}</th></tr>`); }
      const s = p.stats || {}, st = stateOf(s), h = state.prims.get(p.kind + "/" + p.name) || { calls: [], rej: [], total: [0, 0] };
      html.push(`<tr data-kind="${esc(p.kind)}" data-key="${esc(p.kind + "/" + p.name)}"><td>${esc(p.name)}</td>` +
        `<td><span class="state ${stateClass(st)}">${esc(st)}</span></td>` +
        `<td class="spark" title="calls (blue) and rejections (red) per refresh">${spark(h)}<small>${h.total[0]} / ${h.total[1]}</small></td>` +
        `<td class="narrow-hide">${esc(detailOf(s))}</td></tr>`);
    }
    fillTable("resilience", html);
    byId("prim-count").textContent = rows.length === state.primitives.length ? String(rows.length) : `${rows.length} of ${state.primitives.length}`;
    byId("resilience-empty").style.display = state.primitives.length ? "none" : "";
  }

  // ---- events, folded ------------------------------------------------------------------
  function describe(e) {
    const f = e.fields || {}, keys = Object.keys(f);
    const from = keys.find(k => /^(from|old|previous)/.test(k)), to = keys.find(k => /^(to|new|current)/.test(k));
    if (from && to) return `${f[from]} → ${f[to]}`;
    return "";
  }
  let eventsTimer = null;
  function addEvent(e, render = true) {
    const at = typeof e.at === "number" ? e.at : Date.now() / 1000, key = e.source + "|" + e.event;
    const important = IMPORTANT.test(e.event);
    if (!important) {
      const g = state.events.find(x => x.key === key && at - x.first <= FOLD_SECONDS && at >= x.first);
      if (g) { g.count++; g.last = Math.max(g.last, at); if (render) scheduleEvents(); return; }
    }
    state.events.unshift({ key, event: e.event, source: e.source, first: at, last: at, count: 1, important, detail: describe(e) });
    state.events.sort((a, b) => b.first - a.first);
    while (state.events.length > 80) {
      const i = state.events.map(x => x.important).lastIndexOf(false);
      state.events.splice(i >= 0 ? i : state.events.length - 1, 1);
    }
    if (render) scheduleEvents();
  }
  function scheduleEvents() { if (!eventsTimer) eventsTimer = setTimeout(() => { eventsTimer = null; renderEvents(); }, 250); }
  function renderEvents() {
    const ul = byId("events");
    ul.innerHTML = state.events.slice(0, 60).map(g => {
      const span = Math.max(0, g.last - g.first);
      const what = g.count > 1 ? `${esc(g.event)} <span class="count">× ${g.count}</span> in ${span < 1 ? "<1" : Math.round(span)} s` : esc(g.event);
      return `<li class="${g.important ? "important" : ""}" data-event="${esc(g.event)}" data-count="${g.count}">` +
        `<time datetime="${new Date(g.first * 1000).toISOString()}">${clock(g.first, true)}</time>${esc(g.source)}: ${what}` +
        `${g.detail ? " " + esc(g.detail) : ""}</li>`;
    }).join("");
    byId("event-count").textContent = state.events.reduce((s, g) => s + g.count, 0) + " seen";
    byId("events-empty").style.display = state.events.length ? "none" : "";
  }

  // ---- alerts, mode, incidents ---------------------------------------------------------
  function renderAlerts(body) {
    const active = body.active || [];
    fillTable("alerts", active.map(a => {
      const sev = String(a.severity || "info").toLowerCase();
      return `<tr><td class="sev-${esc(sev)}">${esc(sev)}</td><td>${esc(a.rule || a.name || "alert")}</td><td>${esc(a.summary || a.message || (a.annotations || {}).summary || "")}</td></tr>`;
    }));
    byId("alert-count").textContent = active.length;
    byId("alerts-empty").style.display = active.length ? "none" : "";
  }
  function renderMode(health) {
    const mode = (health && (health.mode || (health.operation_mode || {}).mode)) || "NORMAL", el = byId("mode");
    el.textContent = "mode: " + mode;
    el.className = "pill " + (mode === "NORMAL" ? "ok" : mode === "DEGRADED" ? "warn" : "bad");
  }
  function share(v) { return v === undefined || v === null ? "" : (v <= 1 ? v * 100 : v).toFixed(0) + " %"; }
  function renderIncidents() {
    const open = [...state.incidents.values()].filter(i => i.status === "open").sort((a, b) => b.started - a.started);
    byId("incidents").innerHTML = open.map(i => {
      const metrics = (i.metrics || []).slice().sort((a, b) => (b.score || 0) - (a.score || 0)).slice(0, 3)
        .map(m => `<b>${esc(m.name)}</b> ${typeof m.score === "number" ? m.score.toFixed(2) : ""}`).join(", ");
      const procs = (i.processes || []).slice(0, 3).map(p => `<b>${esc(p.name)}</b> (pid ${esc(p.pid)}) ${share(p.share)}`).join(", ");
      return `<section class="incident" data-id="${esc(i.id)}" aria-label="open incident"><h2>${esc(String(i.severity || "incident").toUpperCase())} · ${esc(i.summary || "incident")}</h2>` +
        `<div class="facts">open since ${clock(i.started, true)}${metrics ? " · metrics: " + metrics : ""}${procs ? " · processes: " + procs : ""}</div></section>`;
    }).join("");
    drawAll();
  }
  function onIncident(i) { if (i && i.id !== undefined) { state.incidents.set(i.id, i); renderIncidents(); } }
  function loadIncidents() {
    if (!state.incidentsApi) return;
    if (state.incidentsApi === "unknown") {  // ask the API description first: no 404 in the console
      api("/openapi.json").then(d => { state.incidentsApi = "/api/v1/incidents" in (d.paths || {}); loadIncidents(); })
        .catch(() => { state.incidentsApi = false; });
      return;
    }
    api("/api/v1/incidents").then(b => { (b.incidents || []).forEach(i => state.incidents.set(i.id, i)); renderIncidents(); })
      .catch(status => { if (status === 404) state.incidentsApi = false; });
  }

  let refreshTimer = null;
  function scheduleRefresh() { if (!refreshTimer) refreshTimer = setTimeout(() => { refreshTimer = null; refreshPanels(); }, 400); }
  function refreshPanels() {
    api("/api/v1/resilience").then(b => onPrimitives(b.primitives || [])).catch(() => {});
    api("/api/v1/alerts").then(renderAlerts).catch(() => {});
    api("/api/v1/health").then(renderMode).catch(() => {});
  }

  // ---- connection ----------------------------------------------------------------------
  function setConn(st, text) {
    const el = byId("conn"); el.dataset.state = st; el.textContent = text;
    el.className = "pill " + (st === "live" ? "ok" : st === "connecting" ? "warn" : "bad");
    R.connected = st === "live";
  }
  let attempt = 0;
  function connect() {
    setConn("connecting", attempt ? "reconnecting…" : "connecting…");
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
    const ws = new WebSocket(url, ["rebellion.v1"].concat(token ? ["rebellion.token." + token] : []));
    ws.onopen = () => { attempt = 0; setConn("live", "live"); refreshPanels(); };
    ws.onmessage = e => {
      const m = JSON.parse(e.data);
      if (m.type === "sample") onSample(m);
      else if (m.type === "event") { addEvent(m); scheduleRefresh(); }
      else if (m.type === "alert") scheduleRefresh();
      else if (m.type === "incident") onIncident(m.incident);
      else if (m.type === "heartbeat") ws.send(JSON.stringify({ type: "pong", seq: m.seq }));
    };
    ws.onclose = () => {
      const delay = Math.min(30000, 500 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
      attempt++; R.reconnects++;
      setConn("down", "disconnected, retrying in " + (delay / 1000).toFixed(1) + " s");
      setTimeout(() => { (state.live ? loadLive() : Promise.resolve()).then(connect); }, delay);
    };
  }

  // ---- wiring --------------------------------------------------------------------------
  document.querySelectorAll("[data-sort]").forEach(b => b.addEventListener("click", () => {
    state.sort = b.dataset.sort;
    document.querySelectorAll("[data-sort]").forEach(x => x.setAttribute("aria-pressed", String(x === b)));
    renderProcesses();
  }));
  byId("live").addEventListener("click", goLive);
  document.querySelectorAll("[data-range]").forEach(b => b.addEventListener("click", () => {
    const now = Date.now() / 1000; showRange(now - Number(b.dataset.range), now);
  }));
  byId("f-kind").addEventListener("change", renderResilience);
  byId("f-name").addEventListener("input", renderResilience);
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", rebuildAll);
  const resize = new ResizeObserver(entries => {
    for (const entry of entries) {
      const id = entry.target.id.slice(2), u = charts[id], w = Math.floor(entry.contentRect.width);
      if (u && w > 0 && Math.abs(u.width - w) > 2) u.setSize({ width: w, height: w < 500 ? 170 : 200 });
    }
  });
  SPECS.forEach(s => resize.observe(byId("c-" + s.id)));
  document.addEventListener("visibilitychange", () => { if (!document.hidden) drawAll(); });
  R.showRange = showRange; R.goLive = goLive; R.incident = onIncident;

  async function start() {
    let snap = null;
    for (let i = 0; i < 40 && !snap; i++) {
      snap = await api("/api/v1/snapshot").catch(() => null);
      if (!snap) await new Promise(r => setTimeout(r, 250));
    }
    if (snap) {
      state.names = Object.keys(snap.values || {});
      SPECS.forEach(s => { s.metrics = s.series(state.names).filter(([m]) => state.names.includes(m)); });
      await loadLive();
      rebuildAll();
      onSample(snap);
    }
    api("/api/v1/resilience").then(b => { (b.events || []).forEach(e => addEvent(e, false)); renderEvents(); onPrimitives(b.primitives || []); }).catch(() => {});
    loadIncidents();
    connect();
  }
  setInterval(refreshPanels, 3000);
  setInterval(loadIncidents, 10000);
  start();
})();
