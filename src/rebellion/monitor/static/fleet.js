/* System Rebellion hub: the fleet panel (hosts, a host's charts, the Turbine view). */
"use strict";
(() => {
  const token = new URLSearchParams(location.search).get("token");
  const byId = id => document.getElementById(id);
  const esc = s => String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const F = window.rebellionFleet = { polls: 0, body: null, selected: null, chart: null };
  function api(path) {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    return fetch(path, { headers }).then(r => r.ok ? r.json() : Promise.reject(r.status));
  }
  function cls(st) {
    const s = String(st).toUpperCase();
    if (/^(CLOSED|NORMAL|OK|HEALTHY|UP|RUNNING|ACTIVE)$/.test(s)) return "good";
    if (/HALF|DEGRADED|WARN|PENDING/.test(s)) return "mid";
    if (/OPEN|ISOLATED|EMERGENCY|DOWN|FAIL|CRITICAL|STALE/.test(s)) return "bad";
    return "";
  }
  function ago(t) {
    if (t === null || t === undefined) return "never";
    const s = Math.max(0, Date.now() / 1000 - t);
    return s < 90 ? s.toFixed(0) + " s ago" : s < 5400 ? (s / 60).toFixed(0) + " min ago" : (s / 3600).toFixed(1) + " h ago";
  }
  function renderHosts(hosts) {
    byId("fleet-count").textContent = hosts.length + (hosts.length === 1 ? " host" : " hosts");
    byId("fleet-empty").style.display = hosts.length ? "none" : "";
    byId("fleet-hosts").tBodies[0].innerHTML = hosts.map(h => {
      const health = h.stale ? "stale" : (h.health || "–");
      return `<tr data-host="${esc(h.id)}" class="${h.stale ? "stale" : ""}" tabindex="0" aria-selected="${h.id === F.selected}">` +
        `<td>${esc(h.id)}</td><td><span class="state ${cls(health)}">${esc(health)}</span></td>` +
        `<td><span class="state ${cls(h.mode || "")}">${esc(h.mode || "–")}</span></td>` +
        `<td class="num">${h.open_incidents ?? "–"}</td><td class="num" title="${esc(new Date(1000 * (h.last_seen || 0)).toISOString())}">${esc(ago(h.last_seen))}</td></tr>`;
    }).join("");
  }
  function renderTurbine(primitives) {
    const groups = new Map();
    for (const p of primitives) {
      if (String(p.name).startsWith("ws-client-")) continue;
      const key = p.kind + "/" + p.name;
      if (!groups.has(key)) groups.set(key, { kind: p.kind, name: p.name, rows: [] });
      groups.get(key).rows.push(p);
    }
    const sorted = [...groups.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
    byId("turbine-empty").style.display = sorted.length ? "none" : "";
    const html = sorted.map(g =>
      `<tr data-key="${esc(g.kind + "/" + g.name)}"><td>${esc(g.name)} <small>${esc(g.kind.replace(/_/g, " "))}</small></td><td><div class="chips">` +
      g.rows.map(p => `<span class="chip${p.stale ? " stale" : ""}" data-host="${esc(p.host)}" data-process="${esc(p.process)}" title="${esc(p.host + " · " + p.process)}">` +
        `${esc(p.host)} · ${esc(p.process)}: <span class="state ${cls(p.state)}">${esc(p.state)}</span></span>`).join("") +
      `</div></td></tr>`).join("");
    // Unchanged states leave the table alone: no flicker, no lost selection or focus.
    const body = byId("turbine").tBodies[0];
    if (body.dataset.html !== html) { body.innerHTML = html; body.dataset.html = html; }
  }
  async function showHost(id) {
    F.selected = id;
    byId("fleet-host").hidden = false;
    byId("fleet-host-title").textContent = "Host " + id + ": CPU and memory, last 5 min";
    document.querySelectorAll("#fleet-hosts tbody tr").forEach(r => r.setAttribute("aria-selected", String(r.dataset.host === id)));
    const body = await api(`/api/v1/fleet/hosts/${encodeURIComponent(id)}/samples?count=300`).catch(() => null);
    if (!body || F.selected !== id) return;
    const xs = body.samples.map(s => s.at), col = m => body.samples.map(s => (s.values || {})[m] ?? null);
    const data = [xs, col("cpu.total"), col("memory.percent")];
    const el = byId("fleet-chart"), width = Math.max(300, el.clientWidth || 600);
    if (F.chart) F.chart.destroy();
    F.chart = new uPlot({
      width, height: 180,
      series: [{}, { label: "CPU %", stroke: "#4c8bf5", width: 1.5 }, { label: "memory %", stroke: "#e8a33d", width: 1.5 }],
      scales: { y: { range: [0, 100] } },
    }, data, el);
    F.hostSamples = body.samples.length;
  }
  byId("fleet-hosts").addEventListener("click", e => {
    const row = e.target.closest("tr[data-host]"); if (row) showHost(row.dataset.host);
  });
  byId("fleet-hosts").addEventListener("keydown", e => {
    const row = e.target.closest("tr[data-host]");
    if (row && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); showHost(row.dataset.host); }
  });
  function poll() {
    api("/api/v1/fleet").then(body => {
      F.body = body; F.polls++;
      byId("fleet").hidden = false;
      byId("fleet-redis").textContent = body.redis && body.redis.connected === false ? "Redis unreachable" : "";
      renderHosts(body.hosts || []);
      renderTurbine(body.primitives || []);
      if (F.selected) showHost(F.selected);
    }).catch(() => {});
  }
  F.showHost = showHost;
  // Only a hub (rebellion serve --fleet) has the fleet routes: ask the API description first.
  api("/openapi.json").then(d => {
    if (!("/api/v1/fleet" in (d.paths || {}))) return;
    poll();
    setInterval(poll, 2000);
  }).catch(() => {});
})();
