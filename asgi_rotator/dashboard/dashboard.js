/* asgi-rotator dashboard: plain JS, no dependencies, no build step.
 *
 * Reads, relative to this page (so it works under any mount prefix):
 *   health                     no key
 *   credentials                {"credentials": [row, ...]}
 *   usage?window=W             W in minute|hour|day|total: {"totals": entry, "by_provider": {...}, "by_model": {...}}
 *   usage?window=G&series=G    optional server-side buckets: {"series": [{"t": epoch, "by_provider": {...}, "by_model": {...}}]}
 *   requests?limit=N           {"requests": [summary, ...]}   (404 is shown as "not available")
 *   traces/{id}                {"request_id": id, "entries": [pass, ...]}
 * Data is always inserted as text (never as HTML): traces carry client content.
 */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var KEY_STORE = "asgi_rotator.key";
  var PREFS_STORE = "asgi_rotator.prefs";
  var SERIES_STORE = "asgi_rotator.series.";
  var REFRESH_MS = 5000;
  var REQUEST_LIMIT = 50;
  var REQUEST_ROWS = 15;
  var BUCKET = { minute: 60, hour: 3600, day: 86400 };
  var SPAN = { minute: 30, hour: 24, day: 14 };
  var PALETTE = ["#6366f1", "#0ea5e9", "#10b981", "#f59e0b", "#ec4899", "#8b5cf6", "#14b8a6", "#ef4444", "#84cc16", "#f97316", "#64748b", "#06b6d4"];

  var state = {
    key: null,
    prefs: { metric: "requests", group: "by_provider", gran: "minute", window: "day" },
    paused: false,
    timer: null,
    inflight: false,
    lastOk: 0,
    health: null,
    credentials: null,
    credentialsAt: 0,
    usageToday: null,
    usageWindow: null,
    seriesFromServer: null,
    requests: null,
    requestsError: null,
    colors: {},
    shades: {},
    colorNext: 0,
    traceId: null,
  };

  // ---------------------------------------------------------------- utilities

  function $(id) { return document.getElementById(id); }

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      for (var name in attrs) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) continue;
        if (name === "class") el.className = value;
        else if (name === "text") el.textContent = value;
        else if (name.slice(0, 2) === "on") el.addEventListener(name.slice(2), value);
        else el.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }

  function s(tag, attrs) {
    var el = document.createElementNS(SVG_NS, tag);
    for (var name in attrs || {}) {
      if (name === "text") el.textContent = attrs[name];
      else el.setAttribute(name, attrs[name]);
    }
    return el;
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  function num(v) { return typeof v === "number" && isFinite(v) ? v : 0; }

  function fmtInt(v) {
    v = num(v);
    var a = Math.abs(v);
    if (a >= 1e9) return trim(v / 1e9) + "B";
    if (a >= 1e6) return trim(v / 1e6) + "M";
    if (a >= 1e4) return trim(v / 1e3) + "k";
    return Math.round(v).toLocaleString("en-US");
  }
  function trim(v) {
    var text = v.toFixed(Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2);
    return text.indexOf(".") < 0 ? text : text.replace(/\.?0+$/, "");
  }

  function fmtCost(v) {
    if (v === null || v === undefined) return "–";
    v = num(v);
    if (v === 0) return "$0";
    if (Math.abs(v) >= 100) return "$" + Math.round(v).toLocaleString("en-US");
    if (Math.abs(v) >= 1) return "$" + v.toFixed(2);
    if (Math.abs(v) >= 0.01) return "$" + v.toFixed(3);
    return "$" + v.toPrecision(2);
  }

  function fmtMetric(metric, v) { return metric === "cost" ? fmtCost(v) : fmtInt(v); }

  function fmtDuration(seconds) {
    seconds = Math.max(0, Math.ceil(seconds));
    if (seconds < 60) return seconds + "s";
    var m = Math.floor(seconds / 60), sec = seconds % 60;
    if (m < 60) return m + "m " + (sec < 10 ? "0" : "") + sec + "s";
    var hrs = Math.floor(m / 60);
    m = m % 60;
    if (hrs < 48) return hrs + "h " + (m < 10 ? "0" : "") + m + "m";
    return Math.floor(hrs / 24) + "d " + (hrs % 24) + "h";
  }

  function fmtLatency(ms) {
    if (ms === null || ms === undefined) return "–";
    ms = num(ms);
    if (ms < 1000) return Math.round(ms) + " ms";
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  }

  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function fmtClock(ms, withSeconds) {
    var d = new Date(ms);
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + (withSeconds ? ":" + pad2(d.getSeconds()) : "");
  }
  function fmtDay(ms) { var d = new Date(ms); return MONTHS[d.getMonth()] + " " + d.getDate(); }

  function fmtAgo(ms) {
    var sec = Math.max(0, (Date.now() - ms) / 1000);
    if (sec < 5) return "just now";
    if (sec < 60) return Math.floor(sec) + "s ago";
    if (sec < 3600) return Math.floor(sec / 60) + "m ago";
    if (sec < 86400) return Math.floor(sec / 3600) + "h ago";
    return fmtDay(ms);
  }

  /** A time given as epoch seconds, epoch milliseconds or an ISO string, as epoch milliseconds. */
  function toMs(t) {
    if (typeof t === "number") return t > 1e12 ? t : t * 1000;
    if (typeof t === "string") { var p = Date.parse(t); return isNaN(p) ? null : p; }
    return null;
  }

  /** A stable colour per name; a `provider/model` name is a shade of its provider's colour. */
  function colorFor(name) {
    if (name in state.colors) return state.colors[name];
    var slash = name.indexOf("/");
    if (slash > 0) {
      var base = colorFor(name.slice(0, slash));
      var n = (state.shades[name.slice(0, slash)] = (state.shades[name.slice(0, slash)] || 0) + 1) - 1;
      state.colors[name] = shade(base, SHADES[n % SHADES.length]);
    } else {
      state.colors[name] = PALETTE[state.colorNext++ % PALETTE.length];
    }
    return state.colors[name];
  }

  var SHADES = [0, 0.42, -0.3, 0.66, -0.5];

  /** `hex` mixed towards white (f > 0) or black (f < 0). */
  function shade(hex, f) {
    var v = parseInt(hex.slice(1), 16), out = "#";
    [16, 8, 0].forEach(function (bit) {
      var c = (v >> bit) & 255;
      c = Math.round(f >= 0 ? c + (255 - c) * f : c * (1 + f));
      out += (c < 16 ? "0" : "") + c.toString(16);
    });
    return out;
  }

  function swatch(name) { var el = h("i", { class: "swatch" }); el.style.background = colorFor(name); return el; }

  function metricOf(entry, metric) {
    if (!entry) return 0;
    if (metric === "tokens") return num(entry.input_tokens) + num(entry.output_tokens);
    if (metric === "cost") return num(entry.cost_usd);
    return num(entry.requests);
  }

  function loadJSON(storage, key, fallback) {
    try { var raw = storage.getItem(key); return raw ? JSON.parse(raw) : fallback; } catch (e) { return fallback; }
  }
  function saveJSON(storage, key, value) { try { storage.setItem(key, JSON.stringify(value)); } catch (e) { /* full */ } }

  // ---------------------------------------------------------------- HTTP

  /** The page's own directory: every request is relative to it, whatever the mount prefix. */
  function apiUrl(path) {
    var here = location.pathname.slice(-1) === "/" ? location.pathname : location.pathname + "/";
    return new URL(path, location.origin + here).toString();
  }

  function ApiError(status, message) { this.status = status; this.message = message; }

  function api(path, needsKey) {
    var headers = { accept: "application/json" };
    if (needsKey !== false && state.key) headers.authorization = "Bearer " + state.key;
    return fetch(apiUrl(path), { headers: headers, cache: "no-store", credentials: "same-origin" }).then(
      function (res) {
        return res.text().then(function (text) {
          var body = null;
          try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
          if (!res.ok) {
            var msg = body && body.error && (body.error.message || body.error) || res.statusText || "HTTP " + res.status;
            throw new ApiError(res.status, typeof msg === "string" ? msg : JSON.stringify(msg));
          }
          if (body === null) throw new ApiError(res.status, "The gateway did not answer JSON.");
          return body;
        });
      },
      function () { throw new ApiError(0, "The gateway is unreachable."); }
    );
  }

  // ---------------------------------------------------------------- key

  function askKey(message) {
    var dialog = $("key-dialog");
    var err = $("key-error");
    err.hidden = !message;
    err.textContent = message || "";
    if (!dialog.open) {
      if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
    }
    $("key-input").value = "";
    $("key-input").focus();
  }

  function setKey(key) {
    state.key = key || null;
    try {
      if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
    } catch (e) { /* storage disabled: the key lives in memory only */ }
  }

  // ---------------------------------------------------------------- refresh

  function refresh() {
    if (state.inflight) return;
    if (!state.key) { loadHealth(); if (!$("key-dialog").open) askKey(null); return; }
    state.inflight = true;
    var g = state.prefs.gran, w = state.prefs.window;
    var jobs = [
      api("health", false),
      api("credentials"),
      api("usage?window=day"),
      api("usage?window=" + g + "&series=" + g),
      w === "day" || w === g ? Promise.resolve(null) : api("usage?window=" + w),
      api("requests?limit=" + REQUEST_LIMIT),
    ];
    Promise.all(jobs.map(settle)).then(function (r) {
      state.inflight = false;
      applyHealth(r[0]);
      var auth = r.filter(function (x) { return x.error && x.error.status === 401; });
      if (auth.length) {
        setKey(null);
        askKey("The gateway rejected this key. Enter a valid client or admin key.");
        return;
      }
      if (r[1].value) { state.credentials = r[1].value.credentials || []; state.credentialsAt = Date.now(); }
      if (r[2].value) state.usageToday = r[2].value;
      if (r[3].value) {
        state.seriesFromServer = Array.isArray(r[3].value.series) ? r[3].value.series : null;
        if (!state.seriesFromServer) accumulate(g, r[3].value);
      }
      state.usageWindow = w === "day" ? r[2].value : w === g ? r[3].value : r[4].value;
      if (r[5].value) { state.requests = r[5].value.requests || []; state.requestsError = null; }
      else if (r[5].error) state.requestsError = r[5].error;

      var failed = r.filter(function (x) { return x.error; });
      var down = failed.filter(function (x) { return x.error.status === 0; }).length;
      if (down) showBanner("The gateway is unreachable — retrying every " + REFRESH_MS / 1000 + " s.", true);
      else {
        var other = failed.filter(function (x) { return x.error.status !== 404 || x !== r[5]; });
        if (other.length) showBanner(describe(other[0].error), other[0].error.status >= 500);
        else showBanner(null);
      }
      if (!down) state.lastOk = Date.now();
      renderAll();
    });
  }

  function settle(p) {
    return p.then(function (v) { return { value: v }; }, function (e) { return { error: e instanceof ApiError ? e : new ApiError(-1, String(e)) }; });
  }

  function describe(err) {
    if (err.status === 403) return "This key may not read everything here: " + err.message;
    return "Some data could not be loaded (" + (err.status || "network") + "): " + err.message;
  }

  function showBanner(text, bad) {
    var b = $("banner");
    b.hidden = !text;
    b.textContent = text || "";
    b.className = "banner" + (bad ? " bad" : "");
  }

  function loadHealth() { settle(api("health", false)).then(applyHealth); }

  function applyHealth(r) {
    var el = $("status"), text = $("status-text");
    if (r.value) {
      state.health = r.value;
      (r.value.providers || []).slice().sort().forEach(colorFor);  // stable provider colours
      var ok = r.value.status === "ok";
      el.dataset.state = ok ? "ok" : "warn";
      var providers = (r.value.providers || []).length;
      text.textContent = (ok ? "Healthy" : String(r.value.status)) + " · " + providers + " provider" + (providers === 1 ? "" : "s") +
        (r.value.state_backend ? " · " + r.value.state_backend : "");
    } else {
      el.dataset.state = "bad";
      text.textContent = r.error && r.error.status === 0 ? "Unreachable" : "Unhealthy";
    }
  }

  function schedule() {
    clearInterval(state.timer);
    state.timer = setInterval(function () {
      if (!state.paused && !document.hidden) refresh();
    }, REFRESH_MS);
  }

  // ---------------------------------------------------------------- time series

  /** Keeps the current bucket of a window report; each poll replaces the same bucket's cumulative counters. */
  function accumulate(gran, report) {
    var size = BUCKET[gran];
    var start = typeof report.window_start === "number" ? report.window_start : Math.floor(Date.now() / 1000 / size) * size;
    var store = loadJSON(sessionStorage, SERIES_STORE + gran, []);
    var point = { t: start, by_provider: slim(report.by_provider), by_model: slim(report.by_model) };
    var at = store.findIndex(function (p) { return p.t === start; });
    if (at >= 0) store[at] = point; else store.push(point);
    store.sort(function (a, b) { return a.t - b.t; });
    saveJSON(sessionStorage, SERIES_STORE + gran, store.slice(-200));
  }

  function slim(dim) {
    var out = {};
    for (var name in dim || {}) {
      var e = dim[name];
      out[name] = { requests: e.requests, input_tokens: e.input_tokens, output_tokens: e.output_tokens, cost_usd: e.cost_usd };
    }
    return out;
  }

  function seriesPoints(gran) {
    var server = state.seriesFromServer;
    return server ? server.map(function (p) { return { t: toMs(p.t) / 1000, by_provider: p.by_provider || {}, by_model: p.by_model || {} }; })
      : loadJSON(sessionStorage, SERIES_STORE + gran, []);
  }

  // ---------------------------------------------------------------- render

  function renderAll() {
    renderUpdated();
    renderSummary();
    renderTimeline();
    renderBreakdowns();
    renderCredentials();
    renderRequests();
  }

  function renderUpdated() {
    $("updated").textContent = state.lastOk ? "Updated " + fmtClock(state.lastOk, true) : "";
  }

  function setCard(id, value, sub) {
    $(id).textContent = value;
    var el = clear($(id + "-sub"));
    append(el, sub);
  }

  function renderSummary() {
    var t = state.usageToday && state.usageToday.totals;
    if (t) {
      var prov = Object.keys(state.usageToday.by_provider || {}).length;
      setCard("sum-requests", fmtInt(t.requests), prov ? "across " + prov + " provider" + (prov === 1 ? "" : "s") : "no traffic yet today");
      setCard("sum-tokens", fmtInt(num(t.input_tokens) + num(t.output_tokens)),
        fmtInt(t.input_tokens) + " in · " + fmtInt(t.output_tokens) + " out" + (num(t.cache_read_tokens) ? " · " + fmtInt(t.cache_read_tokens) + " cached" : ""));
      setCard("sum-cost", t.cost_usd === null ? "–" : fmtCost(t.cost_usd),
        t.cost_usd === null ? (num(t.requests) ? "some calls have no known price" : "nothing spent yet") : "UTC day so far");
    }
    var creds = state.credentials;
    if (creds) {
      var counts = {};
      creds.forEach(function (c) { counts[c.state] = (counts[c.state] || 0) + 1; });
      var ready = (counts.available || 0) + (counts.busy || 0);
      var parts = [];
      if (counts.cooling) parts.push(h("span", { class: "warn", text: counts.cooling + " cooling" }));
      if (counts.benched) parts.push(h("span", { class: "bad", text: counts.benched + " benched" }));
      Object.keys(counts).forEach(function (k) {
        if (["available", "busy", "cooling", "benched"].indexOf(k) < 0) parts.push(h("span", { text: counts[k] + " " + k }));
      });
      var sub = [];
      parts.forEach(function (p, i) { if (i) sub.push(" · "); sub.push(p); });
      setCard("sum-creds", creds.length ? ready + " / " + creds.length : "0", sub.length ? sub : creds.length ? h("span", { class: "ok", text: "all in rotation" }) : "none configured");
    }
    var reqs = state.requests;
    if (reqs && reqs.length) {
      var good = reqs.filter(function (r) { return r.status >= 200 && r.status < 400; }).length;
      var retried = reqs.filter(function (r) { return attemptList(r).length > 1; }).length;
      var lat = reqs.map(function (r) { return num(r.latency_ms); }).sort(function (a, b) { return a - b; });
      var p50 = lat[Math.floor((lat.length - 1) / 2)];
      setCard("sum-success", Math.round((100 * good) / reqs.length) + "%",
        "last " + reqs.length + " · p50 " + fmtLatency(p50) + (retried ? " · " + retried + " rotated" : ""));
    } else if (state.requestsError || (reqs && !reqs.length)) {
      setCard("sum-success", "–", state.requestsError ? "request log unavailable" : "no requests yet");
    }
  }

  function timeLabel(ms, gran) {
    if (gran === "day") return fmtDay(ms);
    var d = new Date(ms);
    if (gran === "hour" && d.getHours() === 0) return fmtDay(ms);
    return fmtClock(ms, false);
  }

  /** A round tick step so that about four steps cover `v`. */
  function niceStep(v) {
    if (v <= 0) return 1;
    var raw = v / 4, exp = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / exp;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * exp;
  }

  function renderTimeline() {
    var box = clear($("timeline"));
    var legend = clear($("timeline-legend"));
    var g = state.prefs.gran, metric = state.prefs.metric, dim = state.prefs.group;
    var size = BUCKET[g], span = SPAN[g];
    var points = seriesPoints(g);
    var byT = {};
    points.forEach(function (p) { byT[Math.round(p.t)] = p; });
    var nowBucket = Math.floor(Date.now() / 1000 / size) * size;
    var lastT = points.length ? Math.max(nowBucket, Math.round(points[points.length - 1].t)) : nowBucket;
    var buckets = [];
    for (var i = span - 1; i >= 0; i--) buckets.push(lastT - i * size);

    var names = {};
    buckets.forEach(function (t) {
      var p = byT[t];
      if (p) for (var n in p[dim] || {}) names[n] = (names[n] || 0) + metricOf(p[dim][n], metric);
    });
    var order = Object.keys(names).sort(function (a, b) { return names[b] - names[a] || (a < b ? -1 : 1); });
    order.forEach(colorFor);
    var observed = buckets.filter(function (t) { return byT[t]; }).length;

    $("timeline-note").textContent = state.seriesFromServer
      ? "From the gateway's " + g + " buckets · " + metricName(metric) + " by " + (dim === "by_model" ? "model" : "provider")
      : "Collected by this tab while it is open (the gateway reports the current " + g + "; add server-side series for history)";

    if (!points.length || !order.length) {
      box.appendChild(h("div", { class: "empty-state" },
        h("strong", { text: points.length ? "No traffic in these " + g + "s" : "Waiting for data…" }),
        h("span", { text: state.seriesFromServer ? "Requests will appear here as they are served." : "Bars fill in as this tab polls the gateway every " + REFRESH_MS / 1000 + " s." })));
      return;
    }

    var W = Math.max(280, box.clientWidth || 800), H = box.clientHeight || 240;
    var padL = 46, padR = 8, padT = 10, padB = 24;
    var innerW = W - padL - padR, innerH = H - padT - padB;
    var totals = buckets.map(function (t) {
      var p = byT[t];
      return p ? order.reduce(function (acc, n) { return acc + metricOf((p[dim] || {})[n], metric); }, 0) : 0;
    });
    var step = niceStep(Math.max.apply(null, totals));
    var steps = Math.max(1, Math.ceil(Math.max.apply(null, totals) / step - 1e-9));
    var max = step * steps;
    var svg = s("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": metricName(metric) + " over time" });

    for (var k = 0; k <= steps; k++) {
      var y = padT + innerH - (innerH * k) / steps;
      svg.appendChild(s("line", { class: k ? "gridline" : "baseline", x1: padL, x2: W - padR, y1: y, y2: y }));
      svg.appendChild(s("text", { class: "axis", x: padL - 8, y: y + 4, "text-anchor": "end", text: fmtMetric(metric, step * k) }));
    }

    var slot = innerW / buckets.length;
    var bw = Math.max(2, Math.min(36, slot * 0.68));
    var labelEvery = Math.ceil(buckets.length / Math.max(2, Math.floor(innerW / 64)));
    var hover = s("rect", { class: "hover", x: 0, y: padT, width: slot, height: innerH, visibility: "hidden" });
    svg.appendChild(hover);

    buckets.forEach(function (t, idx) {
      var x = padL + idx * slot + (slot - bw) / 2;
      var p = byT[t];
      if (t === nowBucket) svg.appendChild(s("rect", { class: "now", x: padL + idx * slot, y: padT, width: slot, height: innerH }));
      if (!p) {
        svg.appendChild(s("rect", { class: "nodata", x: x, y: padT + innerH - 2, width: bw, height: 2, rx: 1 }));
      } else {
        var acc = 0;
        order.forEach(function (n) {
          var v = metricOf((p[dim] || {})[n], metric);
          if (!v) return;
          var hgt = (innerH * v) / max;
          acc += hgt;
          svg.appendChild(s("rect", { x: x, y: padT + innerH - acc, width: bw, height: Math.max(hgt - 0.5, 0.5), fill: colorFor(n), rx: Math.min(2, bw / 4) }));
        });
      }
      if ((buckets.length - 1 - idx) % labelEvery === 0) {
        svg.appendChild(s("text", { class: "axis", x: padL + idx * slot + slot / 2, y: H - 6, "text-anchor": "middle", text: timeLabel(t * 1000, g) }));
      }
    });
    box.appendChild(svg);

    var tip = h("div", { class: "tooltip", hidden: true });
    box.appendChild(tip);
    svg.addEventListener("mousemove", function (ev) {
      var rect = svg.getBoundingClientRect();
      var x = ((ev.clientX - rect.left) / rect.width) * W;
      var idx = Math.floor((x - padL) / slot);
      if (idx < 0 || idx >= buckets.length) { hover.setAttribute("visibility", "hidden"); tip.hidden = true; return; }
      hover.setAttribute("x", padL + idx * slot);
      hover.setAttribute("visibility", "visible");
      var t = buckets[idx], p = byT[t];
      clear(tip);
      tip.appendChild(h("div", { class: "tt-title", text: (g === "day" ? fmtDay(t * 1000) : fmtDay(t * 1000) + " " + fmtClock(t * 1000, false)) + (t === nowBucket ? " (now)" : "") }));
      if (!p) tip.appendChild(h("div", { class: "muted", text: "not observed" }));
      else {
        var rows = order.filter(function (n) { return metricOf((p[dim] || {})[n], metric); });
        if (!rows.length) tip.appendChild(h("div", { class: "muted", text: "no traffic" }));
        rows.forEach(function (n) {
          tip.appendChild(h("div", { class: "tt-row" }, h("span", null, swatch(n), n), h("span", { text: fmtMetric(metric, metricOf(p[dim][n], metric)) })));
        });
        if (rows.length > 1) tip.appendChild(h("div", { class: "tt-row tt-total" }, h("span", { text: "Total" }), h("span", { text: fmtMetric(metric, totals[idx]) })));
      }
      tip.hidden = false;
      var left = ((padL + idx * slot + slot) / W) * rect.width + 8;
      if (left + tip.offsetWidth > rect.width) left = ((padL + idx * slot) / W) * rect.width - tip.offsetWidth - 8;
      tip.style.left = Math.max(0, left) + "px";
      tip.style.top = "8px";
    });
    svg.addEventListener("mouseleave", function () { hover.setAttribute("visibility", "hidden"); tip.hidden = true; });

    order.slice(0, 12).forEach(function (n) { legend.appendChild(h("span", null, swatch(n), n)); });
    if (order.length > 12) legend.appendChild(h("span", { class: "muted", text: "+" + (order.length - 12) + " more" }));
    if (observed < buckets.length && !state.seriesFromServer) legend.appendChild(h("span", { class: "muted", text: "▁ not observed" }));
  }

  function metricName(metric) { return metric === "cost" ? "Cost" : metric === "tokens" ? "Tokens" : "Requests"; }

  function renderBreakdowns() {
    var w = state.prefs.window, metric = state.prefs.metric;
    var names = { minute: "this minute", hour: "this hour", day: "today (UTC)", total: "all time" };
    $("window-note").textContent = metricName(metric) + " · " + names[w];
    var report = state.usageWindow;
    renderBreakdown($("by-provider"), report && report.by_provider, metric, names[w]);
    renderBreakdown($("by-model"), report && report.by_model, metric, names[w]);
  }

  function renderBreakdown(box, dim, metric, windowName) {
    clear(box);
    if (!dim) { box.appendChild(h("div", { class: "empty-state" }, h("span", { text: "Loading…" }))); return; }
    var rows = Object.keys(dim).map(function (n) { return { name: n, e: dim[n], v: metricOf(dim[n], metric) }; });
    rows.sort(function (a, b) { return b.v - a.v || num(b.e.requests) - num(a.e.requests) || (a.name < b.name ? -1 : 1); });
    if (!rows.length) {
      box.appendChild(h("div", { class: "empty-state" }, h("strong", { text: "No usage " + windowName }), h("span", { text: "Served requests are counted here." })));
      return;
    }
    var max = Math.max.apply(null, rows.map(function (r) { return r.v; })) || 1;
    var total = rows.reduce(function (a, r) { return a + r.v; }, 0) || 1;
    rows.slice(0, 10).forEach(function (r) {
      var bar = h("i");
      bar.style.width = ((100 * r.v) / max).toFixed(1) + "%";
      bar.style.background = colorFor(r.name);
      var meta = [
        h("span", { text: fmtInt(r.e.requests) + " req" }),
        h("span", { text: fmtInt(r.e.input_tokens) + " in / " + fmtInt(r.e.output_tokens) + " out" }),
        h("span", { text: r.e.cost_usd === null ? "cost unknown" : fmtCost(r.e.cost_usd) }),
      ];
      if (r.e.streams && r.e.streams.count) meta.push(h("span", { text: fmtInt(r.e.streams.count) + " streams · TTFB " + fmtLatency(r.e.streams.avg_ttfb_ms) }));
      box.appendChild(h("div", { class: "bd-row" },
        h("div", { class: "bd-name" }, swatch(r.name), h("span", { text: r.name, title: r.name })),
        h("div", { class: "bd-value", text: fmtMetric(metric, r.v) + "  " }, h("span", { class: "muted", text: Math.round((100 * r.v) / total) + "%" })),
        h("div", { class: "bd-bar" }, bar),
        h("div", { class: "bd-meta" }, meta)));
    });
    if (rows.length > 10) box.appendChild(h("div", { class: "muted", text: "+ " + (rows.length - 10) + " more" }));
  }

  var STATE_CLASS = { available: "ok", busy: "info", cooling: "warn", benched: "bad", disabled: "bad" };

  function credMatches(c, q) {
    if (!q) return true;
    return [c.provider, c.credential, c.state, c.reason, c.scope, c.id].join(" ").toLowerCase().indexOf(q) >= 0;
  }

  function renderCredentials() {
    var body = clear($("cred-body"));
    var creds = state.credentials;
    if (!creds) { body.appendChild(h("tr", null, h("td", { class: "empty", colspan: 9, text: "Loading credentials…" }))); return; }
    var q = $("cred-filter").value.trim().toLowerCase();
    var rows = creds.filter(function (c) { return credMatches(c, q); });
    rows.sort(function (a, b) {
      return (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0) || num(a.tier) - num(b.tier) || (a.credential < b.credential ? -1 : 1);
    });
    var providers = {};
    creds.forEach(function (c) { providers[c.provider] = 1; });
    $("cred-note").textContent = creds.length + " credential" + (creds.length === 1 ? "" : "s") + " across " + Object.keys(providers).length + " provider" + (Object.keys(providers).length === 1 ? "" : "s") + (q ? " · " + rows.length + " shown" : "");
    if (!rows.length) {
      body.appendChild(h("tr", null, h("td", { class: "empty", colspan: 9, text: creds.length ? "No credential matches the filter." : "No credentials are configured for this key's scope." })));
      return;
    }
    rows.forEach(function (c) {
      var cooling = num(c.cooldown_remaining) > 0;
      var until = state.credentialsAt + num(c.cooldown_remaining) * 1000;
      var max = c.max_concurrency;
      var frac = max ? Math.min(1, num(c.in_flight) / max) : 0;
      var fill = h("i", { class: frac >= 1 ? "full" : "" });
      fill.style.width = (frac * 100).toFixed(0) + "%";
      var cd = cooling
        ? h("span", { class: "countdown" + (c.state === "benched" ? " bad" : ""), "data-until": until, "data-total": num(c.cooldown_remaining) * 1000, text: fmtDuration(c.cooldown_remaining) },
          h("span", { class: "countdown-bar" }, h("i")))
        : h("span", { class: "zero", text: "—" });
      body.appendChild(h("tr", null,
        h("td", { "data-label": "Provider", class: "provider head" }, h("span", { text: c.provider }),
          h("span", { class: "m-only mono muted", text: c.credential || "" }),
          h("span", { class: "m-only push pill " + (STATE_CLASS[c.state] || ""), text: c.state || "unknown", title: c.reason || null })),
        h("td", { "data-label": "Credential", class: "d-only" }, h("span", { class: "mono", text: c.credential || "—" }),
          c.fair_cycle === "exhausted" ? h("span", { class: "cell-sub", text: "waiting for its turn" }) : null),
        h("td", { "data-label": "Scope" }, c.scope ? h("span", { class: "scope-tag", text: c.scope }) : h("span", { class: "zero", text: "global" })),
        h("td", { "data-label": "Tier", class: "num", text: c.tier === null || c.tier === undefined ? "—" : c.tier }),
        h("td", { "data-label": "State", class: "d-only" }, h("span", { class: "pill " + (STATE_CLASS[c.state] || ""), text: c.state || "unknown" }),
          c.reason ? h("span", { class: "reason", text: String(c.reason).replace(/_/g, " ") + (c.cooldown_scope && c.cooldown_scope !== "credential" ? " · " + c.cooldown_scope : "") }) : null),
        h("td", { "data-label": "Cooldown" }, cd, cooling && c.reason ? h("span", { class: "m-only reason", text: String(c.reason).replace(/_/g, " ") }) : null),
        h("td", { "data-label": "In flight" }, h("span", { class: "meter" },
          max ? h("span", { class: "meter-track" }, fill) : h("span", { class: "meter-track none", title: "no concurrency cap" }),
          h("span", { class: num(c.in_flight) ? "" : "zero", text: num(c.in_flight) + (max ? " / " + max : "") }))),
        h("td", { "data-label": "Req / min", class: "num" + (num(c.requests_this_minute) ? "" : " zero"), text: fmtInt(c.requests_this_minute) }),
        h("td", { "data-label": "Failures", class: "num " + (num(c.failures) ? "failures" : "zero"), text: fmtInt(c.failures) })));
    });
    tick();
  }

  /** Every second: cooldown countdowns and relative times, without refetching. */
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-until]").forEach(function (el) {
      var left = (Number(el.getAttribute("data-until")) - now) / 1000;
      var total = Number(el.getAttribute("data-total")) || 1;
      var bar = el.querySelector(".countdown-bar i");
      el.firstChild.textContent = left > 0 ? fmtDuration(left) : "ending…";
      if (bar) bar.style.width = Math.max(0, Math.min(100, (100 * left * 1000) / total)).toFixed(1) + "%";
    });
    document.querySelectorAll("[data-ago]").forEach(function (el) { el.textContent = fmtAgo(Number(el.getAttribute("data-ago"))); });
    if (state.lastOk && Date.now() - state.lastOk > REFRESH_MS * 3 && !state.paused) $("updated").textContent = "Stale · " + fmtAgo(state.lastOk);
  }

  /** Attempts of a summary as a list; a bare count becomes that many attempts with only the last known. */
  function attemptList(r) {
    if (Array.isArray(r.attempts)) return r.attempts;
    var n = num(r.attempts) || 1, out = [];
    for (var i = 0; i < n; i++) out.push({ outcome: i === n - 1 ? (r.status < 400 ? "ok" : "error") : "failed" });
    return out;
  }

  function outcomeClass(a) {
    var o = String(a.outcome || "").toLowerCase();
    if (o === "ok" || o === "success" || o === "succeeded") return "ok";
    if (/rate|quota|cool|capacity|timeout|retry/.test(o) || a.status === 429) return "warn";
    return "bad";
  }

  function statusClass(st) { return st >= 500 || st === 0 ? "bad" : st >= 400 ? "warn" : st >= 200 ? "ok" : ""; }

  function tokensOf(r) {
    if (typeof r.tokens === "number") return { total: r.tokens };
    var t = r.tokens && typeof r.tokens === "object" ? r.tokens : r;
    var i = num(t.input_tokens !== undefined ? t.input_tokens : t.input), o = num(t.output_tokens !== undefined ? t.output_tokens : t.output);
    return { total: i + o, input: i, output: o };
  }

  function renderRequests() {
    var body = clear($("req-body"));
    renderMore();
    var err = state.requestsError;
    if (err && !state.requests) {
      $("req-note").textContent = "";
      body.appendChild(h("tr", null, h("td", { class: "empty", colspan: 9 },
        err.status === 404 ? "This gateway does not list recent requests yet (GET requests?limit=N)." : err.status === 403 ? "This key may not list requests: " + err.message : "Could not load recent requests: " + err.message)));
      return;
    }
    var reqs = state.requests;
    if (!reqs) { body.appendChild(h("tr", null, h("td", { class: "empty", colspan: 9, text: "Loading requests…" }))); return; }
    $("req-note").textContent = reqs.length ? "The last " + reqs.length + " requests · select one to open its trace" : "";
    if (!reqs.length) {
      body.appendChild(h("tr", null, h("td", { class: "empty", colspan: 9, text: "No requests yet. Send one through the gateway and it appears here." })));
      return;
    }
    var shown = state.showAllRequests ? reqs : reqs.slice(0, REQUEST_ROWS);
    shown.forEach(function (r) {
      var ms = toMs(r.time);
      var attempts = attemptList(r);
      var tk = tokensOf(r);
      var dots = h("span", { class: "attempts", title: attempts.map(function (a, i) {
        return (i + 1) + ". " + [a.target, a.credential, a.outcome, a.status].filter(function (x) { return x !== undefined && x !== null && x !== ""; }).join(" · ");
      }).join("\n") });
      attempts.slice(0, 8).forEach(function (a) { dots.appendChild(h("i", { class: outcomeClass(a) })); });
      dots.appendChild(h("b", { text: attempts.length === 1 ? "1" : attempts.length + "×" }));
      var open = function (ev) { if (ev) ev.preventDefault(); openTrace(r.id); };
      var model = r.model && r.target && r.model !== r.target && r.target.indexOf(r.model) < 0 ? r.model : null;
      body.appendChild(h("tr", { class: "clickable", onclick: open },
        h("td", { "data-label": "Time", class: "head" }, h("span", { "data-ago": ms, text: ms ? fmtAgo(ms) : "—", title: ms ? new Date(ms).toLocaleString() : "" }),
          h("span", { class: "m-only push pill code " + statusClass(num(r.status)), text: r.status === undefined ? "—" : String(r.status) })),
        h("td", { "data-label": "Request" }, h("a", { class: "link", href: "#trace=" + encodeURIComponent(r.id), onclick: function (ev) { ev.stopPropagation(); open(ev); }, text: String(r.id).slice(0, 12) + (String(r.id).length > 12 ? "…" : ""), title: r.id })),
        h("td", { "data-label": "Scope" }, r.scope ? h("span", { class: "scope-tag", text: r.scope }) : h("span", { class: "zero", text: "global" })),
        h("td", { "data-label": "Target", class: "wide" }, h("span", null, model ? [h("span", { class: "muted", text: model }), h("span", { class: "arrow", text: "→" })] : null, r.target || "—"),
          r.credential ? h("span", { class: "cell-sub mono", text: r.credential + (r.stream ? " · stream" : "") }) : null),
        h("td", { "data-label": "Status", class: "d-only" }, h("span", { class: "pill code " + statusClass(num(r.status)), text: r.status === undefined ? "—" : String(r.status) })),
        h("td", { "data-label": "Attempts" }, dots),
        h("td", { "data-label": "Latency", class: "num", text: fmtLatency(r.latency_ms) }),
        h("td", { "data-label": "Tokens", class: "num", title: tk.input !== undefined ? fmtInt(tk.input) + " in / " + fmtInt(tk.output) + " out" : null, text: tk.total ? fmtInt(tk.total) : "—" }),
        h("td", { "data-label": "Cost", class: "num", text: r.cost_usd === undefined ? "—" : fmtCost(r.cost_usd) })));
    });
  }

  function renderMore() {
    var more = $("req-more"), reqs = state.requests || [];
    more.hidden = reqs.length <= REQUEST_ROWS;
    more.textContent = state.showAllRequests ? "Show fewer" : "Show all " + reqs.length;
  }

  // ---------------------------------------------------------------- trace viewer

  function openTrace(id) {
    if (!id) return;
    state.traceId = id;
    if (location.hash !== "#trace=" + encodeURIComponent(id)) history.replaceState(null, "", "#trace=" + encodeURIComponent(id));
    $("trace").hidden = false;
    $("scrim").hidden = false;
    $("trace-id").textContent = id;
    clear($("trace-summary"));
    var body = clear($("trace-body"));
    body.appendChild(h("div", { class: "empty-state" }, h("span", { text: "Loading trace…" })));
    settle(api("traces/" + encodeURIComponent(id))).then(function (r) {
      if (state.traceId !== id) return;
      clear(body);
      if (r.error) {
        if (r.error.status === 401) { setKey(null); askKey("The gateway rejected this key."); return; }
        body.appendChild(h("div", { class: "empty-state" },
          h("strong", { text: r.error.status === 404 ? "No trace for this request" : r.error.status === 403 ? "Traces need an admin or global key" : "Could not load the trace" }),
          h("span", { text: r.error.status === 404 ? "Tracing may be off (trace.enabled) or the file was removed." : r.error.message })));
        return;
      }
      renderTrace(r.value);
    });
    $("trace").focus();
  }

  function closeTrace() {
    state.traceId = null;
    $("trace").hidden = true;
    $("scrim").hidden = true;
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  }

  function isBadPass(e) { return /fail|error|timeout|cancel|blocked|exhausted/.test(e.pass_name || ""); }
  function isGoodPass(e) { return /succeeded|final_client_response/.test(e.pass_name || "") && !isBadPass(e); }

  function renderTrace(trace) {
    var entries = trace.entries || [];
    var body = $("trace-body"), summary = $("trace-summary");
    var last = entries[entries.length - 1] || {};
    var final = entries.filter(function (e) { return e.pass_name === "final_client_response"; })[0];
    var first = entries[0] || {};
    var status = final && final.data && final.data.status;
    var targets = entries.filter(function (e) { return /^routing_target_attempt_(failed|succeeded)$/.test(e.pass_name || ""); });
    append(summary, [
      h("span", null, "Passes ", h("b", { text: entries.length })),
      h("span", null, "Elapsed ", h("b", { text: fmtLatency(last.elapsed_ms) })),
      status !== undefined ? h("span", null, "Status ", h("span", { class: "pill code " + statusClass(status), text: String(status) })) : null,
      targets.length ? h("span", null, "Attempts ", h("b", { text: targets.length })) : null,
      first.protocol ? h("span", null, "Protocol ", h("b", { text: first.protocol })) : null,
      first.timestamp_utc ? h("span", null, h("b", { text: new Date(first.timestamp_utc).toLocaleString() })) : null,
    ]);
    if (!entries.length) { body.appendChild(h("div", { class: "empty-state" }, h("span", { text: "The trace is empty." }))); return; }
    var total = num(last.elapsed_ms) || 1;
    var wf = h("div", { class: "waterfall", title: "Passes over the request's elapsed time" });
    entries.forEach(function (e) {
      var tick = h("i", { class: isBadPass(e) ? "bad" : "" });
      tick.style.left = Math.min(99.6, (100 * num(e.elapsed_ms)) / total).toFixed(2) + "%";
      wf.appendChild(tick);
    });
    body.appendChild(wf);
    entries.forEach(function (e, i) {
      var where = [passHint(e), e.provider && e.model ? e.provider + "/" + e.model : e.provider || e.model, e.credential_id, e.direction]
        .filter(function (x) { return x !== null && x !== undefined && x !== ""; }).join(" · ");
      var comp = e.component === "client" || e.component === "provider" ? e.component : "other";
      var det = h("details", { class: "pass" + (isBadPass(e) ? " bad" : isGoodPass(e) ? " good" : "") },
        h("summary", null,
          h("span", { class: "seq", text: e.sequence || i + 1 }),
          h("span", { class: "pname" }, h("span", { class: "badge " + comp, text: e.component || "pass" }), (e.pass_name || "pass").replace(/_/g, " "),
            where ? h("span", { class: "pmeta", text: where }) : null),
          h("span", { class: "ptime", text: "+" + num(e.elapsed_ms).toFixed(1) + " ms" })));
      var filled = false;
      det.addEventListener("toggle", function () {
        if (!det.open || filled) return;
        filled = true;
        var inner = h("div", { class: "pass-body" });
        if (e.metadata && Object.keys(e.metadata).length) { inner.appendChild(h("h3", { text: "Metadata" })); inner.appendChild(jsonTree(e.metadata, 2)); }
        inner.appendChild(h("h3", { text: "Data" }));
        inner.appendChild(jsonTree(e.data === undefined ? null : e.data, 2));
        det.appendChild(inner);
      });
      body.appendChild(det);
      if (isBadPass(e)) det.open = true;
    });
  }

  /** A one-line gist of a pass from its data, for the collapsed row. */
  function passHint(e) {
    var d = e.data && typeof e.data === "object" ? e.data : {}, md = e.metadata || {};
    if (d.target && d.outcome) {
      return d.target + " → " + d.outcome + (d.status ? " " + d.status : "") + (d.cooldown ? " · cooldown " + fmtDuration(d.cooldown) : "");
    }
    if (e.pass_name === "final_client_response" && d.status) return "status " + d.status;
    if (e.pass_name === "usage_accounting_summary") {
      return fmtInt(d.input_tokens) + " in / " + fmtInt(d.output_tokens) + " out" + (md.cost_usd !== undefined ? " · " + fmtCost(md.cost_usd) : "");
    }
    if (Array.isArray(md.targets) && md.targets.length) return "targets: " + md.targets.join(", ");
    if (Array.isArray(md.warnings) && md.warnings.length) return md.warnings.length + " warning" + (md.warnings.length === 1 ? "" : "s");
    if (d.scope && d.seconds !== undefined) return d.scope + " · " + fmtDuration(d.seconds) + (d.source ? " (" + d.source + ")" : "");
    if (d.chosen) return "chose " + d.chosen;
    if (d.method && d.path) return d.method + " " + d.path;
    return null;
  }

  /** A collapsible JSON tree; levels below `openDepth` start closed. */
  function jsonTree(value, openDepth) {
    var root = h("div", { class: "json" });
    root.appendChild(node(null, value, 0, openDepth, true));
    return root;
  }

  function node(key, value, depth, openDepth, last) {
    var comma = last ? "" : ",";
    var label = key === null ? null : [h("span", { class: "k", text: JSON.stringify(key) }), ": "];
    if (value !== null && typeof value === "object") {
      var isArr = Array.isArray(value);
      var keys = isArr ? value.map(function (_, i) { return i; }) : Object.keys(value);
      var open = isArr ? "[" : "{", close = isArr ? "]" : "}";
      if (!keys.length) return h("div", { class: "row" }, label, open + close + comma);
      var det = h("details", depth < openDepth ? { open: true } : null,
        h("summary", null, label, open, h("span", { class: "c", text: " " + keys.length + (isArr ? " item" : " key") + (keys.length === 1 ? "" : "s") + " " })));
      keys.forEach(function (k, i) { det.appendChild(node(isArr ? null : k, value[k], depth + 1, openDepth, i === keys.length - 1)); });
      det.appendChild(h("div", null, close + comma));
      return det;
    }
    var cls = typeof value === "string" ? (value === "[redacted]" ? "s red" : "s") : typeof value === "number" ? "n" : typeof value === "boolean" ? "b" : "z";
    var text = typeof value === "string" ? JSON.stringify(value.length > 4000 ? value.slice(0, 4000) + "… (" + value.length + " chars)" : value) : String(value);
    return h("div", { class: "row" }, label, h("span", { class: cls, text: text }), comma);
  }

  // ---------------------------------------------------------------- controls

  function syncControls() {
    document.querySelectorAll(".seg[data-control]").forEach(function (seg) {
      var name = seg.getAttribute("data-control");
      seg.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-pressed", String(b.getAttribute("data-value") === state.prefs[name])); });
    });
  }

  function init() {
    var prefs = loadJSON(localStorage, PREFS_STORE, null);
    if (prefs) for (var k in state.prefs) if (typeof prefs[k] === "string") state.prefs[k] = prefs[k];
    syncControls();

    // A key handed over in the fragment (#key=...) never reaches a server; it is moved to sessionStorage at once.
    var m = /(?:^#|&)key=([^&]*)/.exec(location.hash);
    if (m) {
      setKey(decodeURIComponent(m[1]));
      var rest = location.hash.slice(1).split("&").filter(function (p) { return p.indexOf("key=") !== 0; }).join("&");
      history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
    } else {
      try { state.key = sessionStorage.getItem(KEY_STORE); } catch (e) { state.key = null; }
    }

    document.querySelectorAll(".seg[data-control]").forEach(function (seg) {
      seg.addEventListener("click", function (ev) {
        var b = ev.target.closest("button");
        if (!b) return;
        var name = seg.getAttribute("data-control");
        if (state.prefs[name] === b.getAttribute("data-value")) return;
        state.prefs[name] = b.getAttribute("data-value");
        saveJSON(localStorage, PREFS_STORE, state.prefs);
        syncControls();
        if (name === "gran" || name === "window") { state.seriesFromServer = null; renderAll(); refresh(); } else renderAll();
      });
    });
    $("cred-filter").addEventListener("input", renderCredentials);
    $("req-more").addEventListener("click", function () { state.showAllRequests = !state.showAllRequests; renderRequests(); });
    $("refresh").addEventListener("click", refresh);
    $("pause").addEventListener("click", function () {
      state.paused = !state.paused;
      this.setAttribute("aria-pressed", String(state.paused));
      this.textContent = state.paused ? "Paused" : "Pause";
      if (!state.paused) refresh();
    });
    $("signout").addEventListener("click", function () { askKey(null); });
    $("key-form").addEventListener("submit", function () {
      var v = $("key-input").value.trim();
      if (!v) return;
      setKey(v);
      refresh();
    });
    $("key-dialog").addEventListener("cancel", function (ev) { if (!state.key) ev.preventDefault(); });
    $("trace-close").addEventListener("click", closeTrace);
    $("scrim").addEventListener("click", closeTrace);
    $("trace-expand").addEventListener("click", function () {
      $("trace-body").querySelectorAll("details").forEach(function (d) { d.open = true; });
    });
    document.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && state.traceId) closeTrace(); });
    document.addEventListener("visibilitychange", function () { if (!document.hidden && !state.paused) refresh(); });
    var lastW = 0;
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(function (entries) {
        var w = Math.round(entries[0].contentRect.width);
        if (w !== lastW) { lastW = w; renderTimeline(); }
      }).observe($("timeline"));
    }

    renderAll();
    refresh();
    schedule();
    setInterval(tick, 1000);
    var t = /(?:^#|&)trace=([^&]*)/.exec(location.hash);
    if (t && state.key) openTrace(decodeURIComponent(t[1]));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
