// marketflow dashboard: the watchlist's prices from /ws/prices (filtered to it), everything else from the REST API.
"use strict";

const WINDOW_MS = 120000;
const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#bc8cff", "#f85149", "#39c5cf"];
const state = { mode: null, exchanges: [], latest: {}, previous: {}, series: {}, seeded: new Set() };
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
const count = (n) => n.toLocaleString("en");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const keyOf = (exchange, symbol) => `${exchange}|${symbol}`;

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

// ---- watchlist -------------------------------------------------------------
// Only watched symbols get a row, a live chart and a place in the candle chart's picker, and only their ticks are
// streamed: a market of thousands of symbols would drown the page. A screenful is the cap.
const WATCH_KEY = "marketflow.watchlist";
const WATCH_MAX = 20;
const DEFAULT_WATCHLIST = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "TONUSDT", "DOGEUSDT"];
const SYMBOL = /^[A-Z0-9]{1,40}$/;
const watch = { symbols: [], loaded: false };

// The list saved by an earlier visit, or null when there is none (or it is not one this page could have saved).
function savedWatchlist() {
  try {
    const saved = JSON.parse(localStorage.getItem(WATCH_KEY));
    if (Array.isArray(saved) && saved.every((s) => typeof s === "string" && SYMBOL.test(s))) {
      return [...new Set(saved)].slice(0, WATCH_MAX);
    }
  } catch {
    // unreadable: as if nothing were saved
  }
  return null;
}

function saveWatchlist() {
  localStorage.setItem(WATCH_KEY, JSON.stringify(watch.symbols));
}

// The pairs /symbols lists for exactly this symbol (its q matches parts of names: BTCUSDT also finds WBTCUSDT).
async function pairsOf(symbol) {
  const body = await api(`/symbols?q=${symbol}&limit=1000`);
  return body.symbols.filter((row) => row.symbol === symbol);
}

// With nothing saved: the usual leaders the service follows, else the first symbols it lists (none while the
// listing is still empty, right after the service started).
async function defaultWatchlist() {
  const followed = await Promise.all(DEFAULT_WATCHLIST.map(async (s) => ((await pairsOf(s)).length ? s : null)));
  const leaders = followed.filter(Boolean);
  if (leaders.length) return leaders;
  const body = await api("/symbols?limit=100");
  return [...new Set(body.symbols.map((row) => row.symbol))].slice(0, DEFAULT_WATCHLIST.length);
}

// The picker waits for the watchlist (disabled in the HTML), so nothing is added to a list about to be replaced.
async function startWatchlist() {
  let symbols = savedWatchlist();
  while (!symbols) {
    try {
      const found = await defaultWatchlist();
      if (found.length) symbols = found;
    } catch (error) {
      note(`symbols unavailable: ${error.message}`, true);
    }
    if (!symbols) await sleep(2000); // the service lists its pairs every 2 s
  }
  Object.assign(watch, { symbols, loaded: true });
  $("#picker").disabled = false;
  note("");
  watchlistChanged();
}

// Another tab of the dashboard changed the watchlist: this one follows.
function onStorage(event) {
  const saved = event.key === WATCH_KEY && watch.loaded && savedWatchlist();
  if (!saved) return;
  watch.symbols = saved;
  watchlistChanged();
}

function addSymbol(symbol) {
  if (watch.symbols.includes(symbol)) {
    note(`${symbol} is already on the watchlist`);
    return false;
  }
  if (watch.symbols.length >= WATCH_MAX) {
    note(`The watchlist is full (${WATCH_MAX} symbols): remove one to add another.`, true);
    return false;
  }
  stream.rejected.delete(symbol); // the picker found it listed: worth asking for again
  watch.symbols.push(symbol);
  saveWatchlist();
  watchlistChanged();
  note(`${symbol} added`);
  return true;
}

function removeSymbol(symbol) {
  watch.symbols = watch.symbols.filter((s) => s !== symbol);
  saveWatchlist();
  watchlistChanged();
  note(`${symbol} removed`);
}

// Everything that follows the watchlist: the stream's filter, the charts, the candle chart's symbols.
function watchlistChanged() {
  forgetUnwatched();
  syncStream();
  layoutCharts();
  syncHistorySymbol();
  renderResults();
  $("#watch-count").textContent = `${watch.symbols.length}/${WATCH_MAX}`;
}

// A removed symbol takes its prices and lines along; watched again, it starts afresh and reloads its past.
function forgetUnwatched() {
  const watched = new Set(watch.symbols);
  const gone = (key) => !watched.has(key.split("|")[1]);
  Object.keys(state.latest).filter(gone).forEach((key) => delete state.latest[key]);
  Object.keys(state.previous).filter(gone).forEach((key) => delete state.previous[key]);
  [...state.seeded].filter(gone).forEach((key) => state.seeded.delete(key));
  Object.keys(state.series).filter((symbol) => !watched.has(symbol)).forEach((symbol) => delete state.series[symbol]);
}

function note(text, problem = false) {
  $("#watch-note").textContent = text;
  $("#watch-note").className = problem ? "note error" : "note";
}

// ---- prices stream -------------------------------------------------------
// The server is asked for the watched symbols only; as an empty filter means every symbol, nothing watched means
// no stream at all. `received` counts the ticks that arrived per exchange|symbol (read by the browser test);
// `rejected` holds watched symbols the service does not know (a list saved against another configuration).
const stream = { ws: null, asked: "", subscribed: [], rejected: new Set(), received: {} };

const streamSymbols = () => watch.symbols.filter((s) => !stream.rejected.has(s));

function syncStream() {
  const symbols = streamSymbols();
  if (!symbols.length) return closeStream();
  if (!stream.ws) return openStream(symbols);
  if (stream.ws.readyState === WebSocket.OPEN && symbols.join() !== stream.asked) {
    stream.asked = symbols.join();
    stream.ws.send(JSON.stringify({ subscribe: { symbols } }));
  }
}

function openStream(symbols) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/prices?symbols=${symbols.join(",")}`);
  stream.ws = ws;
  stream.asked = symbols.join();
  ws.onopen = syncStream; // the watchlist may have changed while connecting
  ws.onclose = (event) => {
    if (stream.ws !== ws) return; // closed on purpose
    stream.ws = null;
    streamBadge(`stream: closed (${event.code}${event.reason ? " " + event.reason : ""}), reconnecting`, "down");
    setTimeout(syncStream, 1000);
  };
  ws.onmessage = (event) => onStreamMessage(JSON.parse(event.data));
}

function closeStream() {
  const ws = stream.ws;
  Object.assign(stream, { ws: null, asked: "", subscribed: [] });
  if (ws) ws.close();
  streamBadge("stream: idle, nothing watched", "");
}

function streamBadge(text, kind) {
  $("#stream").textContent = text;
  $("#stream").className = `badge ${kind}`;
}

function onStreamMessage(message) {
  if (message.type === "tick") {
    const key = keyOf(message.exchange, message.symbol);
    stream.received[key] = (stream.received[key] || 0) + 1;
    if (watch.symbols.includes(message.symbol)) onTick(message); // else one sent before a removal took effect
  } else if (message.type === "subscribed") {
    stream.subscribed = message.symbols;
    streamBadge(`stream: live, ${message.symbols.length} symbols`, "ok");
  } else if (message.type === "error") {
    onStreamError(message.error);
  }
}

// The server names an unknown symbol ("unknown symbol 'XYZ'") and keeps its previous filter (or, on connecting,
// closes): that symbol stays listed, marked, and out of the filter, so the others stream.
function onStreamError(error) {
  const symbol = watch.symbols.find((s) => error.includes(`'${s}'`));
  if (!symbol) return streamBadge(`stream: ${error}`, "down");
  stream.rejected.add(symbol);
  note(`${symbol} is not streamed: ${error}`, true);
  syncStream();
}

function onTick(tick) {
  const key = keyOf(tick.exchange, tick.symbol);
  const last = state.latest[key];
  if (!last || tick.ts >= last.ts) {
    if (last) state.previous[key] = last.price;
    state.latest[key] = tick;
  }
  addPoint(liveLine(tick.exchange, tick.symbol), tick.ts, tick.price);
  liveCandle(tick);
}

const liveLine = (exchange, symbol) => ((state.series[symbol] ??= {})[exchange] ??= []);

// A line keeps one point per LINE_STEP_MS, the last price in it: a 2-minute chart is a few hundred pixels wide,
// and a leading symbol can trade thousands of times a second (the candle chart keeps the exact highs and lows).
const LINE_STEP_MS = 250;

function addPoint(points, ts, price) {
  const last = points[points.length - 1];
  if (last && Math.floor(last[0] / LINE_STEP_MS) === Math.floor(ts / LINE_STEP_MS)) last[1] = price;
  else points.push([ts, price]);
}

// Each watched pair's live line starts with the last 2 minutes of 1s candles (their closes), so a reload keeps the
// past; the last close is its price until a tick comes, so a quiet pair shows one at once.
function seedWatched() {
  watch.symbols.forEach((symbol) =>
    state.exchanges.forEach((exchange) => {
      const key = keyOf(exchange, symbol);
      if (state.seeded.has(key)) return;
      state.seeded.add(key);
      seedLive(exchange, symbol);
    }),
  );
}

async function seedLive(exchange, symbol) {
  const points = liveLine(exchange, symbol);
  const body = await api(`/candles/${encodeURIComponent(exchange)}/${symbol}?interval=1s&from=${Date.now() - WINDOW_MS}`);
  if (state.series[symbol]?.[exchange] !== points) return; // removed meanwhile
  const candles = (body.candles || []).map((c) => [Date.parse(c.time), c.close]);
  const firstLive = points.length ? points[0][0] : Infinity;
  points.unshift(...candles.filter(([ts]) => ts < firstLive));
  const key = keyOf(exchange, symbol);
  const last = candles[candles.length - 1];
  if (last && !state.latest[key]) state.latest[key] = { exchange, symbol, price: last[1], ts: last[0] };
}

// ---- symbol picker ---------------------------------------------------------
// Typing searches /symbols once typing pauses; a newer search aborts the one under way, so the latest answer wins.
const PICKER_PAUSE_MS = 200;
const PICKER_SYMBOLS = 50;
// q: the latest search sent; shown: the one on screen. queries counts searches (read by the browser test).
const search = { q: "", shown: null, timer: 0, controller: null, pending: null, results: [], active: -1, queries: 0 };

// /symbols takes letters and digits only: the rest (BTC-USDT, btc/usdt) is dropped here rather than refused there.
const searchText = () => $("#picker").value.toUpperCase().replace(/[^A-Z0-9]/g, "").slice(0, 40);

function onPickerInput() {
  clearTimeout(search.timer);
  const q = searchText();
  if (!q) return cancelSearch();
  if (q === search.q) return showPicker(); // the same search, e.g. a dash was typed
  search.timer = setTimeout(() => runSearch(q), PICKER_PAUSE_MS);
}

function cancelSearch() {
  clearTimeout(search.timer);
  if (search.controller) search.controller.abort();
  Object.assign(search, { q: "", shown: null, controller: null, pending: null, results: [], active: -1 });
  showPicker();
}

function runSearch(q) {
  if (search.controller) search.controller.abort();
  const controller = (search.controller = new AbortController());
  search.q = q;
  search.queries += 1;
  search.pending = fetchResults(q, controller);
}

// One request per exchange: /symbols sorts by exchange first, so one page of a wide match would hold only the
// first exchange's pairs. Merged, the first PICKER_SYMBOLS symbols have every exchange's pair in its page.
async function fetchResults(q, controller) {
  const scopes = state.exchanges.length ? state.exchanges.map((e) => `&exchange=${encodeURIComponent(e)}`) : [""];
  try {
    const pages = await Promise.all(
      scopes.map((scope) => api(`/symbols?q=${q}&limit=${PICKER_SYMBOLS}${scope}`, { signal: controller.signal })),
    );
    const refused = pages.find((page) => page.error);
    if (refused) throw new Error(refused.error);
    if (controller === search.controller) showResults(q, pages);
  } catch (error) {
    if (controller !== search.controller) return; // superseded: its failure is no news
    search.q = ""; // typing on tries again
    showAnswer(q, [], `search failed: ${error.message}`);
  }
}

function showResults(q, pages) {
  const pairs = new Map();
  pages.flatMap((page) => page.symbols).forEach((row) => pairs.set(row.symbol, [...(pairs.get(row.symbol) || []), row]));
  const symbols = [...pairs.keys()].sort();
  const shown = symbols.slice(0, PICKER_SYMBOLS);
  const total = pages.reduce((sum, page) => sum + page.total, 0);
  const more = symbols.length > shown.length || pages.some((page) => page.total > page.symbols.length);
  const matches = total === 1 ? "1 followed pair matches" : `${count(total)} followed pairs match`;
  const summary = total
    ? `${matches} “${q}”${more ? `: the first ${shown.length} symbols, type more to narrow` : ""}`
    : `no followed pair matches “${q}”`;
  showAnswer(q, shown.map((symbol) => ({ symbol, pairs: pairs.get(symbol) })), summary);
}

// The exact match, if listed, is the option Enter takes; else the first.
function showAnswer(q, results, summary) {
  $("#picker-summary").textContent = summary;
  const active = results.length ? Math.max(results.findIndex((r) => r.symbol === q), 0) : -1;
  Object.assign(search, { shown: q, results, active });
  renderResults();
  showPicker();
}

function renderResults() {
  $("#picker-list").replaceChildren(...search.results.map(resultItem));
  setActive(search.active);
}

function resultItem({ symbol, pairs }) {
  const item = el("li", { role: "option", id: `pick-${symbol}`, "data-symbol": symbol });
  const name = el("span", { class: "name" });
  const at = symbol.indexOf(search.shown);
  name.append(symbol.slice(0, at), el("mark", {}, search.shown), symbol.slice(at + search.shown.length));
  item.append(name);
  if (watch.symbols.includes(symbol)) item.append(el("span", { class: "watched" }, "watched"));
  const where = el("span", { class: "where" });
  pairs.forEach((pair) => {
    const attrs = { class: `pair ${pair.state}`, "data-exchange": pair.exchange, title: pair.detail };
    where.append(el("span", attrs, `${pair.exchange} ${pair.state}`));
  });
  item.append(where);
  return item;
}

// Keys scroll the option they reach into view; the pointer is already on it.
function setActive(index, scroll = true) {
  search.active = index;
  const items = [...$("#picker-list").children];
  items.forEach((item, i) => item.setAttribute("aria-selected", String(i === index)));
  if (scroll && items[index]) items[index].scrollIntoView({ block: "nearest" });
  $("#picker").setAttribute("aria-activedescendant", items[index] ? items[index].id : "");
}

// Open while the answer on screen is the one for what is typed and the box has the focus.
function showPicker() {
  const open = search.shown !== null && search.shown === searchText() && document.activeElement === $("#picker");
  $("#picker-popup").hidden = !open;
  $("#picker").setAttribute("aria-expanded", String(open));
}

function onPickerKey(event) {
  const n = search.results.length;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    if (n) setActive((search.active + (event.key === "ArrowDown" ? 1 : n - 1)) % n);
  } else if (event.key === "Enter") {
    event.preventDefault();
    pickActive();
  } else if (event.key === "Escape") {
    $("#picker").value = "";
    cancelSearch();
  }
}

// Enter right after typing need not wait for the pause: the search goes at once and its answer is picked from.
async function pickActive() {
  const q = searchText();
  if (q && q !== search.shown) {
    clearTimeout(search.timer);
    if (q !== search.q) runSearch(q);
    await search.pending;
  }
  const chosen = search.results[search.active];
  if (q && q === search.shown && q === searchText() && chosen) choose(chosen.symbol);
}

function choose(symbol) {
  if (!addSymbol(symbol)) return;
  $("#picker").value = "";
  cancelSearch();
}

function onResultPress(event) {
  const item = event.target.closest("li[data-symbol]");
  event.preventDefault(); // the search box keeps the focus, so the list stays open under the pointer
  if (item) choose(item.dataset.symbol);
}

function onResultHover(event) {
  const item = event.target.closest("li[data-symbol]");
  const index = item ? [...$("#picker-list").children].indexOf(item) : -1;
  if (index >= 0 && index !== search.active) setActive(index, false);
}

// ---- candles ---------------------------------------------------------------
async function loadHistory() {
  const { symbol, exchange, interval } = history;
  const ticket = ++history.loading;
  history.loadedAt = Date.now();
  if (!symbol) {
    $("#history-note").textContent = "nothing watched";
    return;
  }
  const span = HISTORY_MS[interval] ?? 120 * INTERVAL_MS[interval];
  const scope = exchange ? `${encodeURIComponent(exchange)}/` : "";
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

// The candle chart offers the watched symbols: it keeps its symbol while watched, else BTCUSDT or the first.
function syncHistorySymbol() {
  const select = $("#history-symbol");
  select.replaceChildren(...watch.symbols.map((s) => el("option", { value: s }, s)));
  if (!watch.symbols.includes(history.symbol)) {
    history.symbol = watch.symbols.includes("BTCUSDT") ? "BTCUSDT" : (watch.symbols[0] ?? null);
    history.candles = [];
    loadHistory();
  }
  select.value = history.symbol ?? "";
}

function renderExchangePicker() {
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
// Rows are made when the watchlist or the exchanges change and updated in place in between, so a remove button
// stays the same element under the pointer.
let pricesLayout = null;

function renderPrices() {
  if (!watch.loaded) return;
  const layout = [state.exchanges, watch.symbols, [...stream.rejected]].join("|");
  if (layout !== pricesLayout) {
    pricesLayout = layout;
    layoutPrices();
  }
  document.querySelectorAll("#prices tbody tr[data-symbol]").forEach(updateRow);
}

function layoutPrices() {
  const head = el("tr");
  ["symbol", ...state.exchanges, "spread", "spread %"].forEach((name) => head.append(el("th", {}, name)));
  $("#prices thead").replaceChildren(head);
  $("#prices tbody").replaceChildren(...(watch.symbols.length ? watch.symbols.map(priceRow) : [emptyRow()]));
}

function emptyRow() {
  const row = el("tr", { class: "empty" });
  row.append(el("td", { colspan: state.exchanges.length + 3 }, "Nothing watched: search a symbol above to add it."));
  return row;
}

function priceRow(symbol) {
  const row = el("tr", { "data-symbol": symbol });
  const name = el("td", { class: "symbol" }, symbol);
  if (stream.rejected.has(symbol)) name.append(el("small", {}, " not known to the service"));
  const remove = { class: "remove", "data-remove": symbol, title: "remove from the watchlist", "aria-label": `remove ${symbol}` };
  name.append(el("button", remove, "×"));
  row.append(name, ...state.exchanges.map((exchange) => el("td", { "data-exchange": exchange })));
  row.append(el("td", { class: "spread" }), el("td", { class: "spread-pct" }));
  return row;
}

function updateRow(row) {
  const symbol = row.dataset.symbol;
  const prices = [];
  row.querySelectorAll("td[data-exchange]").forEach((cell) => {
    const key = keyOf(cell.dataset.exchange, symbol);
    const tick = state.latest[key];
    const before = state.previous[key];
    cell.textContent = tick ? fmt(tick.price) : "–";
    cell.className = tick && before !== undefined && before !== tick.price ? (tick.price > before ? "up" : "down") : "";
    if (tick) prices.push(tick.price);
  });
  const spread = prices.length > 1 ? Math.max(...prices) - Math.min(...prices) : null;
  row.querySelector(".spread").textContent = spread === null ? "–" : fmt(spread);
  const percent = spread === null ? "–" : `${((spread / Math.min(...prices)) * 100).toFixed(3)}%`;
  row.querySelector(".spread-pct").textContent = percent;
}

// ---- charts ----------------------------------------------------------------
// One chart per watched symbol, in watchlist order; a chart already made keeps its canvas.
function layoutCharts() {
  const holder = $("#charts");
  const box = (symbol) => holder.querySelector(`[data-chart="${symbol}"]`) || chartBox(symbol);
  holder.replaceChildren(...watch.symbols.map(box));
}

function chartBox(symbol) {
  const box = el("div", { class: "chart", "data-chart": symbol });
  box.append(el("h3", {}, symbol), el("canvas"), el("div", { class: "legend" }));
  return box;
}

function renderCharts() {
  const now = Date.now();
  document.querySelectorAll("#charts [data-chart]").forEach((box) => {
    const series = state.series[box.dataset.chart] || {};
    Object.values(series).forEach((points) => {
      while (points.length && points[0][0] < now - WINDOW_MS) points.shift();
    });
    drawChart(box.querySelector("canvas"), series, now - WINDOW_MS, now);
    box.querySelector(".legend").replaceChildren(
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
  // A wide exchange read in shards is one row per shard (binance/0, binance/1, ...): in name order they stay
  // together, shard 10 after shard 9.
  const sources = [...health.sources].sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
  $("#sources tbody").replaceChildren(...sources.map(sourceRow));
  $("#sources-summary").textContent = sourcesSummary(sources);
}

// A delisted pair is no longer followed: it counts in no source's total. A feed no process reads yet has no counts.
const followedPairs = (s) => Object.entries(s.symbols).reduce((sum, [st, n]) => (st === "delisted" ? sum : sum + n), 0);
const livePairs = (s) => s.symbols.live ?? 0;

function sourceRow(s) {
  const row = el("tr", { "data-source": s.name });
  const errors = Object.values(s.decode_errors).reduce((a, b) => a + b, 0);
  const age = s.last_message_age_s === null ? "–" : `${s.last_message_age_s.toFixed(1)} s`;
  const health = el("td", { class: s.state === "connected" ? "up" : "down" }, s.state);
  const pairs = el("td", { class: "pairs", title: Object.entries(s.symbols).map(([st, n]) => `${st}: ${n}`).join("\n") });
  pairs.textContent = `${count(livePairs(s))}/${count(followedPairs(s))}`;
  const connections = el("td", { class: "connections" }, `${s.connections_open}/${s.connections}`);
  const counts = [age, s.messages, s.reconnects, errors].map((v) => el("td", {}, String(v)));
  row.append(el("td", {}, s.name), health, pairs, connections, ...counts);
  const said = [s.last_error, s.last_exchange_error && `exchange: ${s.last_exchange_error}`].filter(Boolean);
  if (said.length) row.title = said.join("\n");
  return row;
}

function sourcesSummary(sources) {
  const sum = (f) => sources.reduce((total, s) => total + f(s), 0);
  const connected = sources.filter((s) => s.state === "connected").length;
  const live = sum(livePairs);
  return `${sources.length} feeds, ${connected} connected · ${count(live)}/${count(sum(followedPairs))} pairs live · `
    + `${sum((s) => s.connections_open)}/${sum((s) => s.connections)} connections open`;
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

// How many pairs the service follows in all: the search box says what it searches.
async function refreshFollowed() {
  const { total } = await api("/symbols?limit=1");
  $("#followed").textContent = `· ${count(total)} pairs followed`;
  $("#picker").placeholder = `add a symbol: search ${count(total)} followed pairs`;
}

async function poll() {
  try {
    await Promise.all([refreshMode(), refreshHealth(), refreshProxy(), refreshFollowed()]);
  } catch (error) {
    $("#status").textContent = `API unreachable: ${error}`;
    $("#status").className = "badge down";
  }
}

document.querySelectorAll("[data-mode]").forEach((b) => b.addEventListener("click", switchMode));
document.querySelectorAll("#history-form select").forEach((s) => s.addEventListener("change", pick));
$("#token-form").addEventListener("submit", saveToken);
if (sessionStorage.getItem(TOKEN_KEY)) $("#token").placeholder = "admin token set";
$("#picker").addEventListener("input", onPickerInput);
$("#picker").addEventListener("keydown", onPickerKey);
$("#picker").addEventListener("focus", showPicker);
$("#picker").addEventListener("blur", showPicker);
$("#picker-list").addEventListener("mousedown", onResultPress);
$("#picker-list").addEventListener("mouseover", onResultHover);
window.addEventListener("storage", onStorage);
$("#prices tbody").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-remove]");
  if (button) removeSymbol(button.dataset.remove);
});
startWatchlist();
poll();
setInterval(poll, 2000);
setInterval(() => { seedWatched(); renderPrices(); renderCharts(); renderExchangePicker(); renderHistory(); }, 500);
setInterval(() => { if (Date.now() - history.loadedAt >= HISTORY_RELOAD_MS) loadHistory(); }, 1000);
// Read by the browser test: what the charts hold, the watchlist, what the stream delivered, the picker's searches.
window.marketflow = { state, history, watch, stream, search };
