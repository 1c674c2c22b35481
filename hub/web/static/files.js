/* Attached files and checklists (loaded as a file: the CSP allows no inline script).
 * - the photo viewer: a thumbnail opens the photo large in a dialog, with its download link;
 * - file inputs with data-max-bytes refuse a file over the limit before it is sent, so a
 *   form's other fields are never lost to a refused upload; one with data-preview shows the
 *   chosen photo in the image it names;
 * - measured checklist values are compared with the item's limits as they are typed. The
 *   hint is only a hint: the server judges pass or fail when the checklist is saved. */
(function () {
  "use strict";

  // The page's language, through app.js (English when it is not there).
  function t(message, values) {
    return window.Wardlink && window.Wardlink.t ? window.Wardlink.t(message, values) : message;
  }

  function mib(bytes) { return Math.round(bytes / 1048576) + " MiB"; }

  // ------------------------------------------------------------------ viewer

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-viewer]") : null;
    var dialog = document.querySelector("[data-viewer-dialog]");
    if (!link || !dialog || typeof dialog.showModal !== "function") { return; }
    event.preventDefault();
    dialog.querySelector("[data-viewer-image]").src = link.href;
    dialog.querySelector("[data-viewer-image]").alt = link.getAttribute("data-caption") || "";
    dialog.querySelector("[data-viewer-caption]").textContent = link.getAttribute("data-caption") || "";
    dialog.querySelector("[data-viewer-download]").href = link.getAttribute("data-download") || link.href;
    dialog.showModal();
  });
  document.addEventListener("click", function (event) {
    var dialog = event.target.closest ? event.target.closest("[data-viewer-dialog]") : null;
    if (dialog && (event.target === dialog || event.target.hasAttribute("data-viewer-close"))) {
      dialog.close();
    }
  });

  // ------------------------------------------------------------------ size limit before upload

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) { return; }
    var max = Number(input.getAttribute("data-max-bytes"));
    var big = Array.prototype.filter.call(input.files || [], function (f) { return f.size > max; });
    input.setCustomValidity(big.length ? big[0].name + " is " + mib(big[0].size) +
                            "; files may be at most " + mib(max) + "." : "");
    if (big.length) { input.reportValidity(); }
    showPreview(input, big.length ? null : (input.files || [])[0]);
  });

  // A chosen photo is shown small beside its input before the form is sent (as a data: URL,
  // which the page's CSP allows for images).
  function showPreview(input, file) {
    var img = document.getElementById(input.getAttribute("data-preview") || "");
    if (!img) { return; }
    if (!file || !/^image\//.test(file.type)) { img.hidden = true; img.removeAttribute("src"); return; }
    var reader = new FileReader();
    reader.onload = function () { img.src = reader.result; img.hidden = false; };
    reader.readAsDataURL(file);
  }

  // ------------------------------------------------------------------ checklist limits

  function limitHint(input) {
    var hint = document.getElementById(input.getAttribute("aria-describedby"));
    if (!hint) { return; }
    var low = input.getAttribute("data-limit-low"), high = input.getAttribute("data-limit-high");
    var unit = input.getAttribute("data-unit") || "";
    var raw = input.value.trim().replace(",", ".");
    var item = input.closest("[data-item]");
    var state = "";
    var text;
    if (raw === "") {
      text = hint.getAttribute("data-limits") || "";
    } else if (!isFinite(Number(raw))) {
      state = "bad"; text = t("Not a number");
    } else {
      var value = Number(raw);
      var under = low !== "" && value < Number(low), over = high !== "" && value > Number(high);
      if (under || over) {
        state = "out";
        text = under ? t("Outside the limit (below %(limit)s %(unit)s): this item will fail", { limit: Number(low), unit: unit })
          : t("Outside the limit (above %(limit)s %(unit)s): this item will fail", { limit: Number(high), unit: unit });
      } else {
        state = "in"; text = unit ? t("Within the limits (%(value)s %(unit)s)", { value: value, unit: unit }) : t("Within the limits");
      }
    }
    hint.textContent = text;
    hint.setAttribute("data-state", state);
    if (item) { item.setAttribute("data-hint-state", state); }
  }

  function initHints() {
    document.querySelectorAll("input[data-limit-low], input[data-limit-high]").forEach(function (input) {
      var hint = document.getElementById(input.getAttribute("aria-describedby"));
      if (hint && !hint.hasAttribute("data-limits")) { hint.setAttribute("data-limits", hint.textContent); }
      if (input.value.trim() !== "") { limitHint(input); }
    });
  }

  document.addEventListener("input", function (event) {
    var input = event.target;
    if (input.matches && input.matches("input[data-limit-low], input[data-limit-high]")) { limitHint(input); }
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", initHints);
  } else {
    initHints();
  }
})();
