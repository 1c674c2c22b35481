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

  // <time data-local datetime="..."> comes from the server in UTC; show it in the browser's
  // time zone, keeping the UTC text as the tooltip.
  function localTimes(root) {
    var nodes = (root || document).querySelectorAll("time[data-local]");
    for (var i = 0; i < nodes.length; i += 1) {
      var el = nodes[i];
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime()) || el.getAttribute("data-local") === "shown") { continue; }
      el.title = el.textContent;
      el.textContent = when.toLocaleString([], { year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
      el.setAttribute("data-local", "shown");
    }
  }

  localTimes(document);
  document.addEventListener("htmx:afterSwap", function (event) { localTimes(event.target); });

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

  function drawChart(el, points, unit) {
    // The API serves stored units; data-scale converts them to the unit shown (Pa -> hPa).
    var scale = parseFloat(el.getAttribute("data-scale"));
    if (isNaN(scale)) { scale = 1; }
    var xs = [], mean = [], lo = [], hi = [];
    points.forEach(function (p) {
      xs.push(p.ts_ms / 1000); mean.push(scaled(p.value, scale));
      lo.push(scaled(p.min, scale)); hi.push(scaled(p.max, scale));
    });
    var data = [xs, mean, lo, hi];
    var status = el.querySelector("[data-chart-status]");
    if (status) {
      status.textContent = points.length ? points.length + " points" : "No readings in this period";
    }
    var plotHost = el.querySelector("[data-chart-plot]");
    var width = chartWidth(plotHost);
    if (el._plot) {
      el._plot.setData(data);
      if (el._plot.width !== width) { el._plot.setSize({ width: width, height: 220 }); }
      return;
    }
    if (typeof window.uPlot !== "function") { return; }
    var opts = {
      width: width,
      height: 220,
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      legend: { live: true },
      // The x axis always spans the chosen period, however few points it holds.
      scales: { x: { time: true, range: function () { return el._range; } } },
      axes: [{ stroke: "#32383f" }, { stroke: "#32383f", label: unit, size: 60 }],
      series: [
        { label: "Time (UTC)" },
        { label: "Mean", stroke: "#0b5cad", width: 2 },
        { label: "Min", stroke: "#6e7781", width: 1, dash: [4, 4] },
        { label: "Max", stroke: "#bc4c00", width: 1, dash: [4, 4] }
      ]
    };
    el._plot = new window.uPlot(opts, data, plotHost);
  }

  function loadChart(el) {
    var span = SPANS[el.getAttribute("data-span")] || SPANS["6h"];
    var end = serverNow(el);
    el._range = [(end - span.ms) / 1000, end / 1000];
    var url = el.getAttribute("data-chart-url") + "&start=" + Math.floor(end - span.ms) +
      "&end=" + Math.floor(end) + "&window=" + span.window;
    var status = el.querySelector("[data-chart-status]");
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { document.dispatchEvent(new CustomEvent("wardlink:signed-out")); return null; }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (body) {
        if (!body) { return; }
        drawChart(el, body.points || [], el.getAttribute("data-unit") || "");
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
            el._plot.setSize({ width: chartWidth(el.querySelector("[data-chart-plot]")), height: 220 });
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

  window.Wardlink = { loadChart: loadChart };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
