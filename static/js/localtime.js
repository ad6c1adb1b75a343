// Show every <time datetime="..."> in the visitor's locale and time zone.
// The server renders UTC text and a UTC title; only the text changes here, so
// hovering a time still shows UTC. Rows added later (htmx, the live client)
// and datetime attributes the live client updates are formatted too.
(function () {
  "use strict";
  var sameDay = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  var sameYear = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  var other = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

  function format(el) {
    var iso = el.getAttribute("datetime");
    if (!iso || el.getAttribute("data-local") === iso) return;
    var when = new Date(iso);
    if (isNaN(when.getTime())) return;
    var now = new Date();
    var formatter = when.toDateString() === now.toDateString() ? sameDay
      : when.getFullYear() === now.getFullYear() ? sameYear : other;
    el.setAttribute("data-local", iso); // before the text: the observer sees this change too
    el.textContent = formatter.format(when);
    if (!el.title) el.title = when.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function formatAll(root) {
    if (root.nodeType !== 1) return;
    if (root.matches("time[datetime]")) format(root);
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) format(times[i]);
  }

  function start() {
    formatAll(document.body);
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
