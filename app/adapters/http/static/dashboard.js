// marketflow dashboard: prices from /ws/prices, everything else polled from the REST API.
"use strict";

const WINDOW_MS = 120000;
const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#bc8cff", "#f85149", "#39c5cf"];
const state = { mode: null, exchanges: [], symbols: new Set(), latest: {}, previous: {}, series: {} };

const $ = (selector) => document.querySelector(selector);
const el = (tag, attrs = {}, text = "") => {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
  node.textContent = text;
  return node;
};
const fmt = (price) => (price >= 100 ? price.toFixed(2) : price >= 1 ? price.toFixed(4) : price.toFixed(6));

async function api(path, options) {
  const response = await fetch(path, options);
  return response.json();
}

// Control requests (POST) carry the admin token when the user gave one; it lives in this tab only.
const TOKEN_KEY = "marketflow.adminToken";

async function control(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, { method: "POST", headers: token ? { Authorization: `Bearer ${token}` } : {} });
  const body = await response.json();
  $("#control-error").textContent = response.ok ? "" : body.error;
  return body;
}

function saveToken(event) {
  event.preventDefault();
  const token = $("#token").value.trim();
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  $("#token").value = "";
  $("#token").placeholder = token ? "admin token set" : "admin token";
  $("#control-error").textContent = "";
}

// ---- prices stream -------------------------------------------------------
function connectStream() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/prices`);
  ws.onopen = () => { $("#stream").textContent = "stream: live"; $("#stream").className = "badge ok"; };
  ws.onclose = (event) => {
    $("#stream").textContent = `stream: closed (${event.code}${event.reason ? " " + event.reason : ""}), reconnecting`;
    $("#stream").className = "badge down";
    setTimeout(connectStream, 1000);
  };
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "tick") onTick(message);
  };
}

function onTick(tick) {
  state.symbols.add(tick.symbol);
  const key = `${tick.exchange}|${tick.symbol}`;
  const last = state.latest[key];
  if (!last || tick.ts >= last.ts) {
    if (last) state.previous[key] = last.price;
    state.latest[key] = tick;
  }
  const series = (state.series[tick.symbol] ??= {});
  (series[tick.exchange] ??= []).push([tick.ts, tick.price]);
}

// ---- tables ----------------------------------------------------------------
function renderPrices() {
  const symbols = [...state.symbols].sort();
  const exchanges = state.exchanges;
  const head = $("#prices thead");
  head.replaceChildren(el("tr"));
  ["symbol", ...exchanges, "spread", "spread %"].forEach((name) => head.firstChild.append(el("th", {}, name)));
  const body = $("#prices tbody");
  body.replaceChildren(
    ...symbols.map((symbol) => {
      const row = el("tr", { "data-symbol": symbol });
      row.append(el("td", {}, symbol));
      const prices = [];
      exchanges.forEach((exchange) => {
        const key = `${exchange}|${symbol}`;
        const tick = state.latest[key];
        const cell = el("td", { "data-exchange": exchange }, tick ? fmt(tick.price) : "–");
        if (tick) {
          prices.push(tick.price);
          const before = state.previous[key];
          if (before !== undefined && before !== tick.price) cell.className = tick.price > before ? "up" : "down";
        }
        row.append(cell);
      });
      const spread = prices.length > 1 ? Math.max(...prices) - Math.min(...prices) : null;
      row.append(el("td", { class: "spread" }, spread === null ? "–" : fmt(spread)));
      row.append(el("td", {}, spread === null ? "–" : `${((spread / Math.min(...prices)) * 100).toFixed(3)}%`));
      return row;
    }),
  );
}

// ---- charts ----------------------------------------------------------------
function renderCharts() {
  const now = Date.now();
  const holder = $("#charts");
  [...state.symbols].sort().forEach((symbol) => {
    let box = holder.querySelector(`[data-chart="${symbol}"]`);
    if (!box) {
      box = el("div", { class: "chart", "data-chart": symbol });
      box.append(el("h3", {}, symbol), el("canvas"), el("div", { class: "legend" }));
      holder.append(box);
    }
    const series = state.series[symbol] || {};
    Object.values(series).forEach((points) => {
      while (points.length && points[0][0] < now - WINDOW_MS) points.shift();
    });
    drawChart(box.querySelector("canvas"), series, now);
    const legend = box.querySelector(".legend");
    legend.replaceChildren(
      ...state.exchanges.map((exchange, i) => {
        const item = el("span", {}, `■ ${exchange}`);
        item.style.color = COLORS[i % COLORS.length];
        return item;
      }),
    );
  });
}

function drawChart(canvas, series, now) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth * ratio;
  const height = canvas.clientHeight * ratio;
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const all = Object.values(series).flat();
  if (!all.length) return;
  let low = Math.min(...all.map((p) => p[1]));
  let high = Math.max(...all.map((p) => p[1]));
  if (high === low) { high += Math.abs(high) * 1e-4 || 1; low -= Math.abs(low) * 1e-4 || 1; }
  const x = (ts) => ((ts - (now - WINDOW_MS)) / WINDOW_MS) * width;
  const y = (price) => height - 8 * ratio - ((price - low) / (high - low)) * (height - 16 * ratio);
  ctx.fillStyle = "#7f8b97";
  ctx.font = `${10 * ratio}px system-ui`;
  ctx.fillText(fmt(high), 4, 10 * ratio);
  ctx.fillText(fmt(low), 4, height - 2);
  state.exchanges.forEach((exchange, i) => {
    const points = series[exchange];
    if (!points || !points.length) return;
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = 1.5 * ratio;
    ctx.beginPath();
    points.forEach(([ts, price], j) => (j ? ctx.lineTo(x(ts), y(price)) : ctx.moveTo(x(ts), y(price))));
    ctx.stroke();
  });
}

// ---- mode, health, proxy ---------------------------------------------------
async function refreshMode() {
  const mode = await api("/mode");
  state.mode = mode.mode;
  state.exchanges = mode.exchanges;
  $("#mode").textContent = mode.mode;
  document.querySelectorAll("[data-mode]").forEach((b) => b.classList.toggle("active", b.dataset.mode === mode.mode));
}

async function switchMode(event) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    await control(`/mode/${button.dataset.mode}`);
    await refreshMode();
  } finally {
    button.disabled = false;
  }
}

async function refreshHealth() {
  const health = await api("/health");
  const badge = $("#status");
  badge.textContent = `${health.status} · redis ${health.redis.status} · postgres ${health.postgres.status}`;
  badge.className = `badge ${health.status}`;
  $("#sources tbody").replaceChildren(
    ...health.sources.map((s) => {
      const row = el("tr", { "data-source": s.name });
      const errors = Object.values(s.decode_errors).reduce((a, b) => a + b, 0);
      const age = s.last_message_age_s === null ? "–" : `${s.last_message_age_s.toFixed(1)} s`;
      [s.name, s.state, age, s.messages, s.reconnects, errors].forEach((v) => row.append(el("td", {}, String(v))));
      const said = [s.last_error, s.last_exchange_error && `exchange: ${s.last_exchange_error}`].filter(Boolean);
      if (said.length) row.title = said.join("\n");
      return row;
    }),
  );
}

async function refreshProxy() {
  const proxy = await api("/proxy/status");
  const routes = Object.entries(proxy.routes).map(([k, v]) => `${k}: ${v}`).join(", ") || "–";
  const rows = [
    ["enabled", proxy.enabled ? "yes" : "no"],
    ["mode", proxy.mode],
    ["policy", proxy.policy],
    ["proxies", proxy.proxies.join(", ") || "–"],
    ["routes", routes],
    ["benched", proxy.benched.join(", ") || "–"],
  ];
  $("#proxy").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

async function poll() {
  try {
    await Promise.all([refreshMode(), refreshHealth(), refreshProxy()]);
  } catch (error) {
    $("#status").textContent = `API unreachable: ${error}`;
    $("#status").className = "badge down";
  }
}

document.querySelectorAll("[data-mode]").forEach((b) => b.addEventListener("click", switchMode));
$("#token-form").addEventListener("submit", saveToken);
if (sessionStorage.getItem(TOKEN_KEY)) $("#token").placeholder = "admin token set";
connectStream();
poll();
setInterval(poll, 2000);
setInterval(() => { renderPrices(); renderCharts(); }, 500);
