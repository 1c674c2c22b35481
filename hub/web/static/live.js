/* Refresh live-reading tables from the JSON API every few seconds.
 * A table opts in with data-live-url; each row is found by data-live-key="gateway/channel"
 * and its cells by data-field. Polling pauses while the page is hidden and stops when the
 * session has ended. Each poll's outcome is announced as a wardlink:poll-ok / poll-failed /
 * signed-out event for the header's connection indicator (app.js). No inline script is needed, so the page keeps a strict CSP. */
(function () {
  "use strict";

  var STATE_LABELS = {
    live: "Live", stale: "Stale", fault: "Sensor fault", offline: "Gateway offline", none: "No data"
  };

  // The page's language, through app.js (English when it is not there).
  function t(message, values) {
    return window.Wardlink && window.Wardlink.t ? window.Wardlink.t(message, values) : message;
  }

  // A row's data-scale / data-decimals / data-states come from the server's unit table
  // (wardlink.hub.db.units): the API serves stored units, the page shows display units.
  function formatValue(value, row) {
    if (value === null || value === undefined) { return "\u2014"; }
    var states = row && row.getAttribute("data-states");
    if (states) { return states.split("|")[Number(value) ? 1 : 0]; }
    var scale = row ? parseFloat(row.getAttribute("data-scale")) : NaN;
    var decimals = row ? parseInt(row.getAttribute("data-decimals"), 10) : NaN;
    var shown = Number(value) * (isNaN(scale) ? 1 : scale);
    var text = shown.toFixed(isNaN(decimals) ? 2 : decimals);
    if (text.indexOf(".") >= 0) { text = text.replace(/\.?0+$/, ""); }
    text = text === "-0" ? "0" : text;
    return window.Wardlink && window.Wardlink.localNumber ? window.Wardlink.localNumber(text) : text;
  }

  // In the site's time zone, as app.js formats it (the same text as the server's).
  function formatTime(ms) {
    if (ms === null || ms === undefined) { return ""; }
    if (window.Wardlink && window.Wardlink.formatTime) { return window.Wardlink.formatTime(ms); }
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function formatAge(seconds) {
    if (seconds === null || seconds === undefined) { return t("never"); }
    if (seconds < 120) { return t("%(count)s %(unit)s ago", { count: Math.floor(seconds), unit: "s" }); }
    if (seconds < 7200) { return t("%(count)s %(unit)s ago", { count: Math.floor(seconds / 60), unit: "min" }); }
    if (seconds < 172800) { return t("%(count)s %(unit)s ago", { count: Math.floor(seconds / 3600), unit: "h" }); }
    return t("%(count)s %(unit)s ago", { count: Math.floor(seconds / 86400), unit: "d" });
  }

  function setField(row, name, text) {
    var cell = row.querySelector("[data-field=\"" + name + "\"]");
    if (cell && cell.textContent !== text) { cell.textContent = text; }
    return cell;
  }

  function apply(table, data) {
    (data.readings || []).forEach(function (reading) {
      var key = reading.gateway + "/" + reading.channel;
      var rows = table.querySelectorAll("tr[data-live-key]");
      for (var i = 0; i < rows.length; i += 1) {
        if (rows[i].getAttribute("data-live-key") !== key) { continue; }
        setField(rows[i], "value", formatValue(reading.value, rows[i]));
        setField(rows[i], "ts", formatTime(reading.ts_ms));
        setField(rows[i], "age", formatAge(reading.age_s));
        var badge = setField(rows[i], "state", t(STATE_LABELS[reading.state] || reading.state));
        if (badge) { badge.className = "badge live-" + reading.state; }
      }
    });
  }

  function start(table) {
    var url = table.getAttribute("data-live-url");
    var every = parseInt(table.getAttribute("data-live-interval"), 10) || 5000;
    var status = table.querySelector("[data-live-status]");
    var timer = null;
    var busy = false;
    var stopped = false;

    function say(text) { if (status) { status.textContent = text; } }

    function poll() {
      timer = null;
      if (document.hidden || busy || stopped) { return; }
      busy = true;
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) {
          busy = false;
          if (response.status === 401) {
            stopped = true;
            say(t("\u2014 signed out; reload the page to sign in again"));
            document.dispatchEvent(new CustomEvent("wardlink:signed-out"));
            return null;
          }
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json().then(function (data) {
            apply(table, data);
            say(t("\u2014 updated %(time)s", { time: formatTime(data.now_ms) }));
            document.dispatchEvent(new CustomEvent("wardlink:poll-ok"));
            schedule();
          });
        })
        .catch(function () {
          busy = false;
          say(t("\u2014 update failed, retrying"));
          document.dispatchEvent(new CustomEvent("wardlink:poll-failed"));
          schedule();
        });
    }

    function schedule() {
      if (timer === null) { timer = window.setTimeout(poll, every); }
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && timer === null && !busy) { poll(); }
    });
    schedule();
  }

  function init() {
    var tables = document.querySelectorAll("table[data-live-url]");
    for (var i = 0; i < tables.length; i += 1) { start(tables[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
