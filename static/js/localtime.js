// Show every <time datetime="..."> in the visitor's locale and time zone.
// The server renders UTC text and a UTC title; the text changes here and the
// title is set from the datetime every time, so hovering a time shows its UTC
// value even after the live client re-dates it in place. Rows added later
// (htmx, the live client) and datetime attributes it updates are formatted too.
//
// The message filters' since/until inputs: the server renders and reads them
// in UTC, and says so; with this script they show and take the visitor's own
// time, and the form sends UTC (docs/pages.md, "Filters").
(function () {
  "use strict";
  var sameDay = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  var sameYear = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  var other = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

  function utcTitle(when) {
    return when.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function format(el) {
    var iso = el.getAttribute("datetime");
    if (!iso) return;
    var when = new Date(iso);
    if (isNaN(when.getTime())) return;
    // Always, not only when empty: a <time> re-dated in place keeps its old title.
    var title = utcTitle(when);
    if (el.title !== title) el.title = title;
    if (el.getAttribute("data-local") === iso) return;
    var now = new Date();
    var formatter = when.toDateString() === now.toDateString() ? sameDay
      : when.getFullYear() === now.getFullYear() ? sameYear : other;
    el.setAttribute("data-local", iso); // before the text: the observer sees this change too
    el.textContent = formatter.format(when);
  }

  function formatAll(root) {
    if (root.nodeType !== 1) return;
    if (root.matches("time[datetime]")) format(root);
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) format(times[i]);
  }

  // -- filter inputs: local in the page, UTC in the URL -----------------------
  // A datetime-local value "YYYY-MM-DDTHH:MM[:SS]" read as UTC or as local
  // time; the offset is the one of that moment, not of today (summer time).
  var LOCAL_VALUE = /^(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

  function pad(n, width) { return String(n).padStart(width || 2, "0"); }

  function convert(value, toUtc) {
    var m = LOCAL_VALUE.exec(value || "");
    if (!m) return value; // empty or odd: sent as typed, the server judges it
    var f = m.slice(1, 7).map(function (x) { return Number(x || 0); });
    var when = toUtc ? new Date(f[0], f[1] - 1, f[2], f[3], f[4], f[5])
      : new Date(Date.UTC(f[0], f[1] - 1, f[2], f[3], f[4], f[5]));
    if (f[0] < 100) when[toUtc ? "setFullYear" : "setUTCFullYear"](f[0]); // Date maps 0-99 to 19xx
    if (isNaN(when.getTime())) return value;
    var parts = toUtc
      ? [when.getUTCFullYear(), when.getUTCMonth() + 1, when.getUTCDate(), when.getUTCHours(), when.getUTCMinutes(), when.getUTCSeconds()]
      : [when.getFullYear(), when.getMonth() + 1, when.getDate(), when.getHours(), when.getMinutes(), when.getSeconds()];
    return pad(parts[0], 4) + "-" + pad(parts[1]) + "-" + pad(parts[2]) + "T" +
      pad(parts[3]) + ":" + pad(parts[4]) + ":" + pad(parts[5]);
  }

  function localFilters(form) {
    var inputs = form.querySelectorAll("input[data-utc-input]");
    if (!inputs.length || form.hasAttribute("data-local-time")) return;
    form.setAttribute("data-local-time", "");
    for (var i = 0; i < inputs.length; i++) {
      inputs[i].value = convert(inputs[i].value, false);
      var zone = form.querySelector("[data-zone-for='" + inputs[i].id + "']");
      if (zone) zone.textContent = "(your time)";
    }
    // formdata: the values change in what is sent, never in the inputs, so
    // going back to the page shows them as the visitor typed them.
    form.addEventListener("formdata", function (event) {
      for (var j = 0; j < inputs.length; j++) {
        var name = inputs[j].name;
        if (event.formData.has(name)) event.formData.set(name, convert(event.formData.get(name), true));
      }
    });
  }

  function start() {
    formatAll(document.body);
    // Without the formdata event the form could not send UTC: the inputs stay UTC.
    if (typeof FormDataEvent === "function") {
      var forms = document.querySelectorAll("form.filters");
      for (var i = 0; i < forms.length; i++) localFilters(forms[i]);
    }
    new MutationObserver(function (mutations) {
      for (var i = 0; i < mutations.length; i++) {
        var m = mutations[i];
        if (m.type === "attributes") format(m.target);
        for (var j = 0; j < m.addedNodes.length; j++) formatAll(m.addedNodes[j]);
      }
    }).observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["datetime"] });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
