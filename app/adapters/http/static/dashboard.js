// marketflow dashboard: prices from /ws/prices, everything else polled from the REST API.
"use strict";

const WINDOW_MS = 120000;
const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#bc8cff", "#f85149", "#39c5cf"];
const state = { mode: null, exchanges: [], symbols: new Set(), latest: {}, previous: {}, series: {}, seeded: new Set() };
const INTERVAL_MS = { "1s": 1e3, "5s": 5e3, "15s": 15e3, "1m": 6e4, "5m": 3e5, "15m": 9e5, "1h": 36e5, "4h": 144e5, "1d": 864e5 };
// What the candle chart loads on open and on every pick: 2 h of 1m candles, 2 min of 1s, else 120 candles.
const HISTORY_MS = { "1s": 120000, "1m": 7200000 };
const HISTORY_RELOAD_MS = 30000; // live updates come from /ws/prices; a reload brings volume-exact candles back
const history = { symbol: null, exchange: "", interval: "1m", candles: [], loading: 0, loadedAt: 0 };
const UP = "#3fb950";
const DOWN = "#f85149";
const MUTED = "#7f8b97";

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
  if (!state.seeded.has(key)) {
    state.seeded.add(key);
    seedLive(tick.exchange, tick.symbol);
  }
  liveCandle(tick);
}

// The live lines start with the last 2 minutes of 1s candles (their closes), so a reload keeps the past.
async function seedLive(exchange, symbol) {
  const body = await api(`/candles/${encodeURIComponent(exchange)}/${symbol}?interval=1s&from=${Date.now() - WINDOW_MS}`);
  const points = state.series[symbol][exchange];
  const firstLive = points.length ? points[0][0] : Infinity;
  const past = (body.candles || []).map((c) => [Date.parse(c.time), c.close]).filter(([ts]) => ts < firstLive);
  points.unshift(...past);
}

// ---- candles ---------------------------------------------------------------
async function loadHistory() {
  const { symbol, exchange, interval } = history;
  if (!symbol) return;
  const span = HISTORY_MS[interval] ?? 120 * INTERVAL_MS[interval];
  const scope = exchange ? `${encodeURIComponent(exchange)}/` : "";
  const ticket = ++history.loading;
  history.loadedAt = Date.now();
  const body = await api(`/candles/${scope}${symbol}?interval=${interval}&from=${Date.now() - span}`);
  if (ticket !== history.loading) return; // a later pick superseded this answer
  history.candles = (body.candles || []).map((c) => ({
    t: Date.parse(c.time), o: c.open ?? c.low, h: c.high, l: c.low, c: c.close ?? c.high, n: c.count,
  }));
  const partial = body.partial ? ` · partial: ${body.partial_reason}` : "";
  $("#history-note").textContent = `${history.candles.length} candles of ${interval}, from ${body.from}${partial}`;
}

function liveCandle(tick) {
  if (tick.symbol !== history.symbol || (history.exchange && tick.exchange !== history.exchange)) return;
  const step = INTERVAL_MS[history.interval];
  const start = tick.ts - (tick.ts % step);
  const last = history.candles[history.candles.length - 1];
  if (last && last.t === start) {
    Object.assign(last, { h: Math.max(last.h, tick.price), l: Math.min(last.l, tick.price), c: tick.price, n: last.n + 1 });
  } else if (!last || start > last.t) {
    history.candles.push({ t: start, o: tick.price, h: tick.price, l: tick.price, c: tick.price, n: 1 });
  }
}

function pick() {
  history.symbol = $("#history-symbol").value || history.symbol;
  history.exchange = $("#history-exchange").value;
  history.interval = $("#history-interval").value;
  history.candles = [];
  loadHistory();
}

function renderPickers() {
  const symbols = [...state.symbols].sort();
  const select = $("#history-symbol");
  if (select.options.length !== symbols.length) {
    select.replaceChildren(...symbols.map((s) => el("option", { value: s }, s)));
    if (!history.symbol) history.symbol = symbols.includes("BTCUSDT") ? "BTCUSDT" : symbols[0];
    select.value = history.symbol;
    if (!history.loadedAt) loadHistory();
  }
  const exchanges = $("#history-exchange");
  if (exchanges.options.length !== state.exchanges.length + 1) {
    exchanges.replaceChildren(el("option", { value: "" }, "all"), ...state.exchanges.map((e) => el("option", { value: e }, e)));
    exchanges.value = state.exchanges.includes(history.exchange) ? history.exchange : "";
  }
}

function renderHistory() {
  const canvas = $("#history");
  const { ctx, width, height, ratio } = prepare(canvas);
  const step = INTERVAL_MS[history.interval];
  const now = Date.now();
  const span = HISTORY_MS[history.interval] ?? 120 * step;
  history.candles = history.candles.filter((c) => c.t + step > now - span);
  const candles = history.candles;
  canvas.dataset.drawn = `${history.interval}:${candles.length}`; // what is on screen, for the browser test
  if (!candles.length) return;
  const low = Math.min(...candles.map((c) => c.l));
  const high = Math.max(...candles.map((c) => c.h));
  const axes = drawAxes(ctx, width, height, ratio, now - span, now - (now % step) + step, low, high);
  const body = Math.max(ratio, (step / (axes.t1 - axes.t0)) * axes.width * 0.7);
  candles.forEach((c) => {
    const x = axes.x(c.t + step / 2);
    ctx.strokeStyle = ctx.fillStyle = c.c >= c.o ? UP : DOWN;
    ctx.lineWidth = ratio;
    ctx.beginPath();
    ctx.moveTo(x, axes.y(c.h));
    ctx.lineTo(x, axes.y(c.l));
    ctx.stroke();
    const top = axes.y(Math.max(c.o, c.c));
    ctx.fillRect(x - body / 2, top, body, Math.max(ratio, axes.y(Math.min(c.o, c.c)) - top));
  });
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
    drawChart(box.querySelector("canvas"), series, now - WINDOW_MS, now);
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

// A cleared canvas at the size it is shown, in device pixels.
function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth * ratio;
  const height = canvas.clientHeight * ratio;
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height, ratio };
}

// A price axis (right) and a time axis in UTC (bottom) for [t0, t1] x [low, high]; returns the scales.
function drawAxes(ctx, width, height, ratio, t0, t1, low, high) {
  if (high === low) { high += Math.abs(high) * 1e-4 || 1; low -= Math.abs(low) * 1e-4 || 1; }
  const right = 64 * ratio;
  const bottom = 16 * ratio;
  const plot = { width: width - right, t0, t1 };
  plot.x = (ts) => ((ts - t0) / (t1 - t0)) * plot.width;
  plot.y = (price) => height - bottom - 4 * ratio - ((price - low) / (high - low)) * (height - bottom - 12 * ratio);
  ctx.fillStyle = ctx.strokeStyle = MUTED;
  ctx.font = `${10 * ratio}px system-ui`;
  ctx.lineWidth = ratio / 2;
  ctx.globalAlpha = 0.35;
  for (let i = 0; i <= 4; i += 1) {
    const price = low + ((high - low) * i) / 4;
    ctx.beginPath();
    ctx.moveTo(0, plot.y(price));
    ctx.lineTo(plot.width, plot.y(price));
    ctx.stroke();
  }
  ctx.globalAlpha = 1;
  for (let i = 0; i <= 4; i += 1) {
    const price = low + ((high - low) * i) / 4;
    ctx.fillText(fmt(price), plot.width + 4 * ratio, plot.y(price) + 3 * ratio);
  }
  const span = t1 - t0;
  const label = (ts) => {
    const iso = new Date(ts).toISOString();
    return span <= 600000 ? iso.slice(11, 19) : span <= 2 * 864e5 ? iso.slice(11, 16) : iso.slice(5, 10);
  };
  for (let i = 0; i <= 4; i += 1) {
    const ts = t0 + (span * i) / 4;
    const text = label(ts);
    const x = Math.min(Math.max(0, plot.x(ts) - ctx.measureText(text).width / 2), plot.width - ctx.measureText(text).width);
    ctx.fillText(text, x, height - 3 * ratio);
  }
  return plot;
}

function drawChart(canvas, series, t0, t1) {
  const { ctx, width, height, ratio } = prepare(canvas);
  const all = Object.values(series).flat();
  if (!all.length) return;
  const low = Math.min(...all.map((p) => p[1]));
  const high = Math.max(...all.map((p) => p[1]));
  const axes = drawAxes(ctx, width, height, ratio, t0, t1, low, high);
  state.exchanges.forEach((exchange, i) => {
    const points = series[exchange];
    if (!points || !points.length) return;
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = 1.5 * ratio;
    ctx.beginPath();
    points.forEach(([ts, price], j) => (j ? ctx.lineTo(axes.x(ts), axes.y(price)) : ctx.moveTo(axes.x(ts), axes.y(price))));
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
document.querySelectorAll("#history-form select").forEach((s) => s.addEventListener("change", pick));
$("#token-form").addEventListener("submit", saveToken);
if (sessionStorage.getItem(TOKEN_KEY)) $("#token").placeholder = "admin token set";
connectStream();
poll();
setInterval(poll, 2000);
setInterval(() => { renderPrices(); renderCharts(); renderPickers(); renderHistory(); }, 500);
setInterval(() => { if (Date.now() - history.loadedAt >= HISTORY_RELOAD_MS) loadHistory(); }, 1000);
// Read by the browser test: what the charts hold.
window.marketflow = { state, history };
