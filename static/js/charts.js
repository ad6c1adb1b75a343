// Activity charts, live: each chat line or notice that reaches an open channel
// page or profile raises its hour's and day's bar, its heatmap cell and their
// table cells, as a fresh load would draw them (messages_app/charts.py renders
// the charts; this keeps the ones marked data-chart-live current).
//
// Messages come from live.js's `goknut:live` DOM event (every `message` event
// of the stream, even in a burst the list renders only the newest of) and from
// rows inserted into the page's message list (polling, when the stream is
// off). Both arrive in id order, so one watermark counts each message once.
(function () {
  "use strict";

  var HOUR_MS = 3600000, DAY_MS = 86400000;
  var LEVELS = 4; // heatmap shades above "none": charts.LEVELS
  var ISO = /^\d{4}-\d{2}-\d{2}T\d{2}/;
  var watermark = 0; // the highest message id counted (or on the page when it loaded)
  var pending = [], frame = 0;

  function formatNumber(n) { return Number(n).toLocaleString("en-US"); }

  function countOf(el) { return Number(el.getAttribute("data-count")) || 0; }

  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }

  // One message, sent at `iso` (UTC): every live chart on the page takes it,
  // in the next frame with the others that came meanwhile (one layout each).
  function count(id, iso) {
    if (!(id > watermark) || !ISO.test(iso)) return;
    watermark = id;
    pending.push(iso);
    if (!frame) frame = requestAnimationFrame(flush);
  }

  function flush() {
    var batch = pending;
    pending = [];
    frame = 0;
    var charts = document.querySelectorAll("[data-chart-live]");
    for (var i = 0; i < charts.length; i++) {
      var heat = charts[i].getAttribute("data-chart") === "heatmap";
      var unit = charts[i].getAttribute("data-chart-unit");
      var tally = {};
      batch.forEach(function (iso) {
        var key = heat ? heatKey(iso) : keyOf(unit, iso);
        tally[key] = (tally[key] || 0) + 1;
      });
      if (heat) addToHeatmap(charts[i], tally);
      else addToBars(charts[i], unit, tally);
    }
  }

  function addTotal(figure, n) {
    var total = figure.querySelector("[data-chart-total]");
    if (total) setText(total, formatNumber((Number(total.textContent.replace(/[^0-9]/g, "")) || 0) + n));
  }

  function setCell(figure, key, n, tooltipOf) {
    var cell = figure.querySelector("[data-chart-value='" + key + "']");
    setText(cell, formatNumber(n));
    var title = tooltipOf.querySelector("title");
    if (title) setText(title, title.textContent.replace(/UTC: .*$/, "UTC: " + formatNumber(n)));
  }

  // -- bars (per hour, per day) ---------------------------------------------

  function keyOf(unit, iso) { return unit === "hour" ? iso.slice(0, 13) : iso.slice(0, 10); }

  function timeOf(unit, key) { return Date.parse(unit === "hour" ? key + ":00:00Z" : key + "T00:00:00Z"); }

  function keyAt(unit, ms) { return keyOf(unit, new Date(ms).toISOString()); }

  function labelOf(unit, key) { return unit === "hour" ? key.replace("T", " ") + ":00" : key; }

  function addToBars(figure, unit, tally) {
    var svg = figure.querySelector("svg");
    var bars = svg.querySelectorAll("[data-chart-bar]");
    if (!bars.length) return;
    var newest = Object.keys(tally).sort().pop();
    if (newest > bars[bars.length - 1].getAttribute("data-chart-bar")) shiftBars(figure, unit, newest);
    var added = 0;
    Object.keys(tally).forEach(function (key) {
      var bar = svg.querySelector("[data-chart-bar='" + key + "']");
      if (!bar) return; // older than the chart's first bar
      var n = countOf(bar) + tally[key];
      bar.setAttribute("data-count", String(n));
      setCell(figure, key, n, bar);
      added += tally[key];
    });
    addTotal(figure, added);
    layoutBars(svg);
  }

  // A new hour (or day) began: the oldest bar and its table row leave, an
  // empty one for `key` (and any hours between) comes in on the right.
  function shiftBars(figure, unit, key) {
    var svg = figure.querySelector("svg"), body = figure.querySelector("tbody");
    var bars = Array.prototype.slice.call(svg.querySelectorAll("[data-chart-bar]"));
    var xs = bars.map(function (bar) { return bar.getAttribute("x"); });
    var step = unit === "hour" ? HOUR_MS : DAY_MS;
    var last = timeOf(unit, bars[bars.length - 1].getAttribute("data-chart-bar"));
    var end = timeOf(unit, key);
    last = Math.max(last, end - bars.length * step); // a long gap: every bar is new
    var dropped = 0;
    for (var at = last + step; at <= end; at += step) {
      var bar = bars.shift(), row = body.querySelector("tr"), next = keyAt(unit, at);
      dropped += countOf(bar);
      bar.setAttribute("data-chart-bar", next);
      bar.setAttribute("data-count", "0");
      var title = bar.querySelector("title");
      if (title) title.textContent = labelOf(unit, next) + " UTC: 0";
      svg.appendChild(bar);
      bars.push(bar);
      row.setAttribute("data-chart-row", next);
      row.querySelector("th").textContent = labelOf(unit, next);
      var cell = row.querySelector("td");
      cell.setAttribute("data-chart-value", next);
      cell.textContent = "0";
      body.appendChild(row);
    }
    bars.forEach(function (bar, i) { bar.setAttribute("x", xs[i]); });
    addTotal(figure, -dropped);
  }

  // The heights of charts.bar_chart: the highest bar reaches the top line.
  function layoutBars(svg) {
    var top = Number(svg.getAttribute("data-chart-top")), base = Number(svg.getAttribute("data-chart-base"));
    var bars = svg.querySelectorAll("[data-chart-bar]");
    var peak = 0;
    for (var i = 0; i < bars.length; i++) peak = Math.max(peak, countOf(bars[i]));
    svg.setAttribute("data-chart-peak", String(peak));
    setText(svg.querySelector("[data-chart-peak-label]"), formatNumber(peak));
    for (var j = 0; j < bars.length; j++) {
      var n = countOf(bars[j]);
      var height = n > 0 && peak > 0 ? Math.max(1, Math.round(n / peak * (base - top) * 100) / 100) : 0;
      bars[j].setAttribute("height", String(height));
      bars[j].setAttribute("y", String(Math.round((base - height) * 100) / 100));
    }
  }

  // -- the heatmap (weekday x hour of day) -----------------------------------

  // "weekday-hour" of a time, Monday 0: the key of charts.heatmap's cells.
  function heatKey(iso) {
    var day = new Date(Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10)));
    return ((day.getUTCDay() + 6) % 7) + "-" + parseInt(iso.slice(11, 13), 10);
  }

  function addToHeatmap(figure, tally) {
    var peak = Number(figure.getAttribute("data-chart-peak")) || 0, added = 0;
    Object.keys(tally).forEach(function (key) {
      var cell = figure.querySelector("[data-chart-heat='" + key + "']");
      if (!cell) return;
      var n = countOf(cell) + tally[key];
      cell.setAttribute("data-count", String(n));
      setCell(figure, key, n, cell);
      added += tally[key];
      peak = Math.max(peak, n);
    });
    addTotal(figure, added);
    figure.setAttribute("data-chart-peak", String(peak));
    var cells = figure.querySelectorAll("[data-chart-heat]");
    for (var i = 0; i < cells.length; i++) {
      var c = countOf(cells[i]);
      var level = c > 0 ? Math.min(LEVELS, Math.ceil(c / peak * LEVELS)) : 0;
      var name = "chart-heat heat-" + level;
      if (cells[i].getAttribute("class") !== name) cells[i].setAttribute("class", name);
    }
  }

  // -- where messages come from ----------------------------------------------

  function fromRows(records) {
    var found = [];
    records.forEach(function (record) {
      Array.prototype.forEach.call(record.addedNodes, function (node) {
        if (node.nodeType !== 1 || !node.hasAttribute("data-id") || node.classList.contains("msg-mod")) return;
        var time = node.querySelector("time[datetime]");
        if (time) found.push([Number(node.getAttribute("data-id")), time.getAttribute("datetime")]);
      });
    });
    found.sort(function (a, b) { return a[0] - b[0]; });
    found.forEach(function (pair) { count(pair[0], pair[1]); });
  }

  function start() {
    if (!document.querySelector("[data-chart-live]")) return;
    var root = document.querySelector("[data-live-root]");
    watermark = root ? Number(root.getAttribute("data-live-cursor")) || 0 : 0;
    document.addEventListener("goknut:live", function (event) {
      var detail = event.detail || {};
      if (detail.type === "message" && detail.data) count(Number(detail.data.id), String(detail.data.sent_at));
    });
    var observer = new MutationObserver(fromRows);
    var lists = document.querySelectorAll("[data-live-list='messages']");
    for (var i = 0; i < lists.length; i++) observer.observe(lists[i], { childList: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
