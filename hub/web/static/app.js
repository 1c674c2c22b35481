/* Wardlink admin UI behaviour. Loaded as a file (the CSP allows no inline script):
 * - the phone menu button;
 * - the CSRF header on htmx requests;
 * - the connection indicator in the header (live / stale / offline), fed by every poll;
 * - telemetry charts (uPlot) drawn from the JSON API;
 * - "select all" boxes and confirmation prompts declared with data- attributes;
 * - filter panels folded on a phone-sized screen.
 * Styles are only ever set through the CSSOM (element.style.x = ...), which a strict
 * style-src permits, never through style attributes in markup. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  // ------------------------------------------------------------------ language

  // The page's translations of the scripts' messages (<meta name="wardlink-messages">, from
  // the hub's catalogues; empty in English): t("Live"), t("%(n)s points", {n: 3}).
  var messages = null;

  function t(message, values) {
    if (messages === null) {
      var meta = document.querySelector("meta[name=wardlink-messages]");
      try { messages = meta ? JSON.parse(meta.getAttribute("content")) : {}; } catch (e) { messages = {}; }
    }
    var text = messages[message] || message;
    return text.replace(/%\((\w+)\)s/g, function (all, name) {
      return values && values[name] !== undefined ? String(values[name]) : all;
    });
  }

  // A number as the page's language writes it ("4.5" -> "4,5" in French).
  function localNumber(text) {
    var lang = document.documentElement.getAttribute("lang") || "en";
    var point = (1.5).toLocaleString(lang).charAt(1);
    return point === "." ? text : String(text).replace(".", point);
  }

  // ------------------------------------------------------------------ connection indicator

  var STALE_AFTER_MS = 30000;
  var conn = { last: 0, failing: false, signedOut: false };

  function connElement() { return document.querySelector("[data-conn]"); }

  function showConn() {
    var el = connElement();
    if (!el) { return; }
    var state, text;
    if (conn.signedOut) {
      state = "offline"; text = t("Signed out: reload to sign in");
    } else if (conn.failing) {
      state = "offline"; text = t("Offline: retrying");
    } else if (conn.last && Date.now() - conn.last > STALE_AFTER_MS) {
      state = "stale"; text = t("Stale: no update for %(s)s s", { s: Math.round((Date.now() - conn.last) / 1000) });
    } else if (conn.last) {
      state = "live"; text = t("Live");
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
    var timeSeries = { label: t("Time (%(zone)s)", { zone: zoneName() }),
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
      opts.series = [timeSeries, { label: t("State"), stroke: "#0b5cad", width: 2, fill: "rgba(11, 92, 173, 0.12)",
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
      { label: t("Mean"), stroke: "#0b5cad", width: 2 },
      { label: t("Min"), stroke: "#6e7781", width: 1, dash: [4, 4] },
      { label: t("Max"), stroke: "#bc4c00", width: 1, dash: [4, 4] }];
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
      status.textContent = points.length ? t("%(n)s points", { n: points.length }) : t("No readings in this period");
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
        if (status) { status.textContent = t("Could not load readings; retrying"); }
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
        document.querySelectorAll("[data-chart-url], figure[data-drawn]").forEach(function (el) {
          if (el._plot) {
            el._plot.setSize({ width: chartWidth(el.querySelector("[data-chart-plot]")), height: el._plot.height });
          }
        });
      }, 150);
    });
  }


  // ------------------------------------------------------------------ trend charts

  // Charts of figures the hub has counted (dashboard trends, report figures by department),
  // drawn with the same uPlot set-up as the telemetry charts: the site's zone on time axes
  // (tzDate, timeTicks), the unit on the y axis, the width of the host. A spec is
  // { x: "time" | "category", xs: [...], labels: [...], unit: "...", series: [{label, values,
  // bars}], percent: bool }; "time" xs are epoch seconds of each period's start.
  var TREND_COLOURS = ["#0b5cad", "#bc4c00", "#1a7f37", "#8250df"];

  // A period's tick in the site's zone: month-day for a week, year-month for a month.
  function periodTick(ts, period) {
    var p = zoneParts(ts * 1000);
    return period === "month" ? p.year + "-" + p.month : p.month + "-" + p.day;
  }

  function trendOptions(spec, width) {
    var category = spec.x === "category";
    var labelOf = function (u, x) {
      var i = spec.xs.indexOf(x);
      return i < 0 ? "" : spec.labels[i];
    };
    var opts = {
      width: width,
      height: 220,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: !category, range: function () {
        var lo = spec.xs[0], hi = spec.xs[spec.xs.length - 1];
        var pad = spec.xs.length > 1 ? (hi - lo) / (spec.xs.length - 1) / 2 : (category ? 0.5 : 43200);
        return [lo - pad, hi + pad];
      } } },
      series: [{ label: spec.xLabel || (category ? "" : t("From (%(zone)s)", { zone: zoneName() })),
        value: function (u, x) { return x === null ? "" : labelOf(u, x); } }]
    };
    if (!category) {
      opts.tzDate = function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), siteZone()); };
    }
    // Counts, hours and shares start at zero; a share ends at 100 %.
    opts.scales.y = { range: spec.percent ? [0, 100] : function (u, min, max) {
      return [0, max > 0 ? max * 1.1 : 1];
    } };
    // Ticks at the periods themselves (local midnights for weeks and months), as many as fit.
    var every = Math.max(1, Math.ceil(spec.xs.length * (category ? 90 : 70) / Math.max(width - 80, 1)));
    opts.axes = [
      { stroke: "#32383f", splits: function () { return spec.xs.filter(function (x, i) { return (spec.xs.length - 1 - i) % every === 0; }); },
        values: function (u, splits) {
          return splits.map(function (x) { return category ? labelOf(u, x) : periodTick(x, spec.period); });
        } },
      { stroke: "#32383f", label: spec.unit, size: 60 }];
    if (spec.whole) { opts.axes[1].incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]; }
    var groups = spec.series.filter(function (s) { return s.bars; }).length;
    var barIndex = 0;
    spec.series.forEach(function (s, n) {
      var colour = TREND_COLOURS[n % TREND_COLOURS.length];
      var one = { label: s.label, stroke: colour, width: 2,
        value: function (u, v) { return v === null || v === undefined ? "\u2014" : v + (spec.unit === "%" ? " %" : " " + spec.unit); } };
      if (s.bars) {
        one.fill = colour;
        one.points = { show: false };
        one.paths = groups > 1 ? groupedBars(0.8 / groups, barIndex++)
          : window.uPlot.paths.bars({ size: [0.6, 48], gap: 2 });
      } else {
        one.points = { show: true, size: 6 };
        one.spanGaps = false;
      }
      opts.series.push(one);
    });
    return opts;
  }

  // Bars side by side for several series on a category axis (e.g. MTTR and MTBF per department).
  function groupedBars(size, index) {
    return function (u, seriesIdx, idx0, idx1) {
      var series = u.series[seriesIdx], xs = u.data[0], ys = u.data[seriesIdx];
      var path = new Path2D(), step = u.valToPos(1, "x", true) - u.valToPos(0, "x", true);
      var barWidth = Math.max(2, step * size), zero = u.valToPos(0, "y", true);
      for (var i = idx0; i <= idx1; i++) {
        if (ys[i] === null || ys[i] === undefined) { continue; }
        var left = u.valToPos(xs[i], "x", true) - step * 0.4 + barWidth * index;
        var top = u.valToPos(ys[i], "y", true);
        path.rect(left, Math.min(top, zero), barWidth, Math.abs(zero - top));
      }
      return { stroke: path, fill: path };
    };
  }

  function drawTrend(fig, spec, emptyText) {
    var plotHost = fig.querySelector("[data-chart-plot]");
    var note = fig.querySelector("[data-trend-empty]");
    var empty = !spec.series.some(function (s) {
      return s.values.some(function (v) { return v !== null && v !== undefined && v !== 0; });
    });
    fig.hidden = false;
    fig.setAttribute("data-series", spec.series.map(function (s) { return s.label; }).join("|"));
    if (note) {
      note.hidden = !empty;
      note.textContent = empty ? emptyText : "";
    }
    if (empty) {
      plotHost.hidden = true;
      fig.setAttribute("data-drawn", "empty");
      return;
    }
    plotHost.hidden = false;
    var data = [spec.xs].concat(spec.series.map(function (s) { return s.values; }));
    if (fig._plot) { fig._plot.destroy(); }
    if (typeof window.uPlot !== "function") { return; }
    fig._plot = new window.uPlot(trendOptions(spec, chartWidth(plotHost)), data, plotHost);
    fig.setAttribute("data-drawn", String(spec.xs.length));
  }

  function periodSeries(series, label, bars) {
    return { x: "time", unit: t(series.unit), percent: series.unit === "%", whole: series.unit !== "%",
      period: series.period,
      xs: series.points.map(function (p) { return Date.parse(p.start) / 1000; }),
      labels: series.points.map(function (p) { return series.period === "week" ? t("week of %(day)s", { day: p.label }) : p.label; }),
      series: [{ label: label, bars: bars, values: series.points.map(function (p) { return p.value; }) }] };
  }

  var GATEWAY_STATES = ["online", "stalled", "offline", "unknown"];

  // The dashboard's trends: each figure[data-trend] names a series of the JSON it is given.
  function showTrends(root, body) {
    var s = body.series || {};
    var specs = {
      backlog: s.backlog && periodSeries(s.backlog, t("Open at the week's end"), true),
      alerts: s.alerts && periodSeries(s.alerts, t("Alerts opened"), true),
      pm_compliance: s.pm_compliance && periodSeries(s.pm_compliance, t("PM on time"), false),
      gateways: s.gateways && { x: "category", unit: t("gateways"), xs: [0, 1, 2, 3], whole: true, xLabel: t("State"),
        labels: GATEWAY_STATES.map(function (k) { return t(k.charAt(0).toUpperCase() + k.slice(1)); }),
        series: [{ label: t("Gateways now"), bars: true,
          values: GATEWAY_STATES.map(function (k) { return s.gateways.by_state[k]; }) }] }
    };
    var figures = root.querySelectorAll("figure[data-trend]");
    // Show every figure before drawing any, so each is measured at its final width.
    figures.forEach(function (fig) { fig.hidden = !specs[fig.getAttribute("data-trend")]; });
    figures.forEach(function (fig) {
      var key = fig.getAttribute("data-trend");
      if (!specs[key]) { return; }
      if (key === "gateways") {
        var total = fig.querySelector("[data-trend-total]");
        if (total) { total.textContent = t("%(online)s of %(total)s online now", { online: s.gateways.online, total: s.gateways.total }); }
      }
      drawTrend(fig, specs[key], fig.getAttribute("data-empty-text") || t("Nothing to show in this period"));
    });
  }

  function setupTrends(root) {
    root.querySelectorAll("[data-trends-url]").forEach(function (box) {
      var status = box.querySelector("[data-trends-status]");
      fetch(box.getAttribute("data-trends-url"), { credentials: "same-origin", cache: "no-store",
        headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 401) { document.dispatchEvent(new CustomEvent("wardlink:signed-out")); return null; }
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (body) {
          if (!body) { return; }
          showTrends(box, body);
          if (status) { status.textContent = t("Weeks and months in %(zone)s, as of %(time)s.", { zone: body.zone, time: formatTime(Date.parse(body.as_of)) }); }
          box.setAttribute("data-loaded", "true");
        })
        .catch(function () { if (status) { status.textContent = t("Could not load the trends; reload the page to try again."); } });
    });
    // Figures whose data the page carries (the reports page's charts by department).
    root.querySelectorAll("figure[data-trend-data]").forEach(function (fig) {
      var spec;
      try { spec = JSON.parse(fig.getAttribute("data-trend-data")); } catch (e) { return; }
      drawTrend(fig, spec, fig.getAttribute("data-empty-text") || t("Nothing to show in this period"));
    });
  }

  // ------------------------------------------------------------------ collapsible filters

  // Filter panels (<details data-collapse-narrow open>) start folded on a phone-sized screen.
  function collapseNarrow(root) {
    if (!window.matchMedia || !window.matchMedia("(max-width: 48rem)").matches) { return; }
    root.querySelectorAll("details[data-collapse-narrow]").forEach(function (el) { el.open = false; });
  }

  function init() {
    collapseNarrow(document);
    setupMenu();
    setupSelectAll(document);
    setupConfirm(document);
    setupCharts(document);
    setupTrends(document);
  }

  window.Wardlink = { loadChart: loadChart, formatTime: formatTime, siteZone: siteZone, t: t, localNumber: localNumber };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
