/* Wardlink admin UI behaviour. Loaded as a file (the CSP allows no inline script):
 * - the phone menu button;
 * - the CSRF header on htmx requests;
 * - the connection indicator in the header (live / stale / offline), fed by every poll;
 * - telemetry charts (uPlot) drawn from the JSON API;
 * - "select all" boxes and confirmation prompts declared with data- attributes.
 * Styles are only ever set through the CSSOM (element.style.x = ...), which a strict
 * style-src permits, never through style attributes in markup. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  // ------------------------------------------------------------------ connection indicator

  var STALE_AFTER_MS = 30000;
  var conn = { last: 0, failing: false, signedOut: false };

  function connElement() { return document.querySelector("[data-conn]"); }

  function showConn() {
    var el = connElement();
    if (!el) { return; }
    var state, text;
    if (conn.signedOut) {
      state = "offline"; text = "Signed out: reload to sign in";
    } else if (conn.failing) {
      state = "offline"; text = "Offline: retrying";
    } else if (conn.last && Date.now() - conn.last > STALE_AFTER_MS) {
      state = "stale"; text = "Stale: no update for " + Math.round((Date.now() - conn.last) / 1000) + " s";
    } else if (conn.last) {
      state = "live"; text = "Live";
    } else {
      return;
    }
    el.hidden = false;
    if (el.getAttribute("data-conn") !== state) { el.setAttribute("data-conn", state); }
    if (el.textContent !== text) { el.textContent = text; }
  }

  function connOk() { conn.last = Date.now(); conn.failing = false; showConn(); }
  function connFail() { conn.failing = true; showConn(); }
  function connSignedOut() { conn.signedOut = true; showConn(); }

  document.addEventListener("wardlink:poll-ok", connOk);
  document.addEventListener("wardlink:poll-failed", connFail);
  document.addEventListener("wardlink:signed-out", connSignedOut);
  window.setInterval(showConn, 5000);

  // ------------------------------------------------------------------ local times

  // Pages show times in the site's time zone (the server renders them so; <meta name=wardlink-tz>
  // names the zone), whatever zone the browser is in. Times drawn here (live readings, chart
  // axes) use the same zone and the same 'YYYY-MM-DD HH:MM:SS CET' form.
  function siteZone() {
    var meta = document.querySelector("meta[name=wardlink-tz]");
    return (meta && meta.getAttribute("content")) || "UTC";
  }

  var zoneFormats = {};

  function zoneParts(ms) {
    var zone = siteZone();
    if (!zoneFormats[zone]) {
      zoneFormats[zone] = new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
        minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short" });
    }
    var parts = {};
    zoneFormats[zone].formatToParts(new Date(ms)).forEach(function (p) { parts[p.type] = p.value; });
    return parts;
  }

  function formatTime(ms) {
    if (ms === null || ms === undefined) { return ""; }
    var p = zoneParts(ms);
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second +
      " " + p.timeZoneName;
  }

  function zoneName() {
    return zoneParts(Date.now()).timeZoneName;
  }

  // ------------------------------------------------------------------ htmx glue

  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr) { return; }
    if (xhr.status === 401) { connSignedOut(); return; }
    if (xhr.status >= 200 && xhr.status < 400) { connOk(); } else { connFail(); }
  });
  document.addEventListener("htmx:sendError", connFail);
  document.addEventListener("htmx:timeout", connFail);

  // ------------------------------------------------------------------ small behaviours

  function setupMenu() {
    var button = document.querySelector(".nav-toggle");
    var header = document.querySelector(".site-header");
    if (!button || !header) { return; }
    button.addEventListener("click", function () {
      var open = header.classList.toggle("nav-open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  function setupSelectAll(root) {
    root.querySelectorAll("input[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        var name = box.getAttribute("data-select-all");
        document.querySelectorAll("input[type=checkbox][name=\"" + name + "\"]").forEach(function (other) {
          other.checked = box.checked;
        });
      });
    });
  }

  function setupConfirm(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  // ------------------------------------------------------------------ charts

  var SPANS = {
    "1h": { ms: 3600e3, window: "30s" },
    "6h": { ms: 6 * 3600e3, window: "2m" },
    "24h": { ms: 24 * 3600e3, window: "10m" },
    "7d": { ms: 7 * 24 * 3600e3, window: "1h" }
  };
  var pageLoaded = Date.now();

  function serverNow(el) {
    // Charts follow the server's clock, not the browser's: the two may disagree.
    var base = parseInt(el.getAttribute("data-now-ms"), 10);
    return isNaN(base) ? Date.now() : base + (Date.now() - pageLoaded);
  }

  function chartWidth(el) {
    return Math.max(240, Math.floor(el.clientWidth || el.parentNode.clientWidth || 600));
  }

  function scaled(value, scale) {
    return value === null || value === undefined ? null : value * scale;
  }

  function chartLimits(el) {
    var text = el.getAttribute("data-limits");
    if (!text) { return null; }
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  // The alert band (e.g. 2-8 degC on a vaccine fridge) behind the series, from the rule the
  // services found for this channel; open-ended when the rule has one limit only.
  function drawBand(u, limits) {
    var ctx = u.ctx, box = u.bbox;
    var top = limits.above === null ? box.top : Math.max(box.top, u.valToPos(limits.above, "y", true));
    var bottom = limits.below === null ? box.top + box.height :
      Math.min(box.top + box.height, u.valToPos(limits.below, "y", true));
    if (bottom <= top) { return; }
    ctx.save();
    ctx.fillStyle = "rgba(26, 127, 55, 0.12)";
    ctx.fillRect(box.left, top, box.width, bottom - top);
    ctx.strokeStyle = "#1a7f37";
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 1;
    [limits.above === null ? null : top, limits.below === null ? null : bottom].forEach(function (y) {
      if (y === null) { return; }
      ctx.beginPath(); ctx.moveTo(box.left, y); ctx.lineTo(box.left + box.width, y); ctx.stroke();
    });
    ctx.restore();
    var figure = u.root.closest("figure");
    if (figure) { figure.setAttribute("data-band-drawn", "true"); }
  }

  function formatDuration(ms) {
    var s = Math.round(ms / 1000);
    if (s < 60) { return s + " s"; }
    var m = Math.floor(s / 60);
    if (m < 60) { return m + " min" + (s % 60 ? " " + (s % 60) + " s" : ""); }
    var h = Math.floor(m / 60);
    if (h < 48) { return h + " h" + (m % 60 ? " " + (m % 60) + " min" : ""); }
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  // A digital input's totals for the period, computed by the hub (time_in_state).
  function showSummary(el, summary, states) {
    var box = el.querySelector("[data-chart-summary]");
    if (!box) { return; }
    if (!summary) { box.textContent = ""; return; }
    var text = states[1] + " " + formatDuration(summary.on_ms) + ", " + states[0].toLowerCase() + " " +
      formatDuration(summary.off_ms) + " in this period";
    if (summary.openings !== null) {
      text += " (" + states[1].toLowerCase() + " " + summary.openings + (summary.openings === 1 ? " time)" : " times)");
    }
    if (summary.unknown_ms > 0) { text += "; no data for " + formatDuration(summary.unknown_ms); }
    box.textContent = text;
  }

  // Time-axis ticks in the site's zone, 24-hour, the date under the first tick of each day.
  function timeTicks(u, splits, axisIdx, space, incr) {
    var lastDay = null;
    return splits.map(function (ts) {
      if (ts === null || ts === undefined) { return ""; }
      var p = zoneParts(ts * 1000);
      var day = p.year + "-" + p.month + "-" + p.day;
      var hm = p.hour + ":" + p.minute;
      if (incr >= 86400) { return day; }
      var text = day !== lastDay ? hm + "\n" + day : hm;
      lastDay = day;
      return text;
    });
  }

  function chartOptions(el, width, unit, digital, states, limits) {
    var timeSeries = { label: "Time (" + zoneName() + ")",
      value: function (u, ts) { return ts === null ? "" : formatTime(ts * 1000); } };
    var opts = {
      width: width,
      height: digital ? 160 : 220,
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), siteZone()); },
      legend: { live: true },
      // The x axis always spans the chosen period, however few points it holds.
      scales: { x: { time: true, range: function () { return el._range; } } }
    };
    if (digital) {
      opts.scales.y = { range: [-0.15, 1.15] };
      opts.axes = [{ stroke: "#32383f", values: timeTicks }, { stroke: "#32383f", size: 70, splits: function () { return [0, 1]; },
        values: function (u, splits) { return splits.map(function (v) { return states[v ? 1 : 0]; }); } }];
      opts.series = [timeSeries, { label: "State", stroke: "#0b5cad", width: 2, fill: "rgba(11, 92, 173, 0.12)",
        paths: window.uPlot.paths.stepped({ align: 1 }),
        value: function (u, v) { return v === null || v === undefined ? "\u2014" : states[v ? 1 : 0]; } }];
      return opts;
    }
    if (limits) {
      // The y axis always shows the band, however far the readings are from it.
      opts.scales.y = { range: function (u, min, max) {
        var lo = min, hi = max;
        [limits.below, limits.above].forEach(function (v) {
          if (v === null) { return; }
          lo = lo === null || isNaN(lo) ? v : Math.min(lo, v);
          hi = hi === null || isNaN(hi) ? v : Math.max(hi, v);
        });
        var pad = Math.max((hi - lo) * 0.1, 0.5);
        return [lo - pad, hi + pad];
      } };
      opts.hooks = { drawClear: [function (u) { drawBand(u, limits); }] };
    }
    opts.axes = [{ stroke: "#32383f", values: timeTicks }, { stroke: "#32383f", label: unit, size: 60 }];
    opts.series = [timeSeries,
      { label: "Mean", stroke: "#0b5cad", width: 2 },
      { label: "Min", stroke: "#6e7781", width: 1, dash: [4, 4] },
      { label: "Max", stroke: "#bc4c00", width: 1, dash: [4, 4] }];
    return opts;
  }

  function drawChart(el, body, unit) {
    // The API serves stored units; data-scale converts them to the unit shown (Pa -> hPa).
    var points = body.points || [];
    var scale = parseFloat(el.getAttribute("data-scale"));
    if (isNaN(scale)) { scale = 1; }
    var statesAttr = el.getAttribute("data-states");
    var digital = !!statesAttr;
    var states = digital ? statesAttr.split("|") : null;
    var xs = [], mean = [], lo = [], hi = [];
    points.forEach(function (p) {
      xs.push(p.ts_ms / 1000);
      if (digital) {
        // In windows, a level of 1 at any time in the window shows as 1.
        var level = body.window_ms ? p.max : p.value;
        mean.push(level === null || level === undefined ? null : (level ? 1 : 0));
      } else {
        mean.push(scaled(p.value, scale)); lo.push(scaled(p.min, scale)); hi.push(scaled(p.max, scale));
      }
    });
    var data = digital ? [xs, mean] : [xs, mean, lo, hi];
    var status = el.querySelector("[data-chart-status]");
    if (status) {
      status.textContent = points.length ? points.length + " points" : "No readings in this period";
    }
    if (digital) { showSummary(el, body.time_in_state, states); }
    var plotHost = el.querySelector("[data-chart-plot]");
    var width = chartWidth(plotHost);
    if (el._plot) {
      el._plot.setData(data);
      if (el._plot.width !== width) { el._plot.setSize({ width: width, height: el._plot.height }); }
      return;
    }
    if (typeof window.uPlot !== "function") { return; }
    el._plot = new window.uPlot(chartOptions(el, width, unit, digital, states, chartLimits(el)), data, plotHost);
  }

  function loadChart(el) {
    var span = SPANS[el.getAttribute("data-span")] || SPANS["6h"];
    var end = serverNow(el);
    el._range = [(end - span.ms) / 1000, end / 1000];
    var url = el.getAttribute("data-chart-url") + "&start=" + Math.floor(end - span.ms) + "&end=" + Math.floor(end);
    // A digital input's steps are drawn from its raw readings up to 6 h; beyond, from windows.
    if (!(el.getAttribute("data-states") && span.ms <= SPANS["6h"].ms)) { url += "&window=" + span.window; }
    var status = el.querySelector("[data-chart-status]");
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { document.dispatchEvent(new CustomEvent("wardlink:signed-out")); return null; }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (body) {
        if (!body) { return; }
        drawChart(el, body, el.getAttribute("data-unit") || "");
        el.setAttribute("data-loaded", String(Date.now()));
        document.dispatchEvent(new CustomEvent("wardlink:poll-ok"));
      })
      .catch(function () {
        if (status) { status.textContent = "Could not load readings; retrying"; }
        document.dispatchEvent(new CustomEvent("wardlink:poll-failed"));
      });
  }

  function setupChart(el) {
    el.querySelectorAll("button[data-span]").forEach(function (button) {
      button.addEventListener("click", function () {
        el.setAttribute("data-span", button.getAttribute("data-span"));
        el.querySelectorAll("button[data-span]").forEach(function (b) {
          b.setAttribute("aria-pressed", b === button ? "true" : "false");
        });
        loadChart(el);
      });
    });
    var every = parseInt(el.getAttribute("data-refresh-ms"), 10) || 30000;
    loadChart(el);
    window.setInterval(function () { if (!document.hidden) { loadChart(el); } }, every);
  }

  function setupCharts(root) {
    root.querySelectorAll("[data-chart-url]").forEach(setupChart);
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(function () {
        document.querySelectorAll("[data-chart-url]").forEach(function (el) {
          if (el._plot) {
            el._plot.setSize({ width: chartWidth(el.querySelector("[data-chart-plot]")), height: el._plot.height });
          }
        });
      }, 150);
    });
  }

  function init() {
    setupMenu();
    setupSelectAll(document);
    setupConfirm(document);
    setupCharts(document);
  }

  window.Wardlink = { loadChart: loadChart, formatTime: formatTime, siteZone: siteZone };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
