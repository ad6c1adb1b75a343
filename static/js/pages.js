// Small enhancements for the htmx parts of the pages; everything works without it.
(function () {
  "use strict";
  var firstNew = null;

  // "Older messages" appends rows: remember where the new ones start, so focus
  // can move to the first of them instead of getting lost with the old link.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    firstNew = target && target.tagName === "OL" && !event.detail.isError ? target.children.length : null;
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (firstNew === null || !target || target.tagName !== "OL") return;
    var row = target.children[firstNew];
    firstNew = null;
    if (row) {
      row.setAttribute("tabindex", "-1");
      row.focus();
    }
  });

  function showError(event) {
    var elt = event.detail.elt;
    var pager = elt && elt.closest && elt.closest(".pager");
    var error = pager && pager.querySelector("[data-error]");
    if (error) error.hidden = false;
  }
  document.addEventListener("htmx:responseError", showError);
  document.addEventListener("htmx:sendError", showError);

  // The header's theme picker. base.html's inline script applied the stored
  // choice before the first paint; this shows it and stores a new one.
  // Nothing stored is "system": prefers-color-scheme decides.
  var THEME_KEY = "goknut-theme";

  function storedTheme() {
    try { return localStorage.getItem(THEME_KEY) || "system"; } catch (e) { return "system"; }
  }

  function applyTheme(theme) {
    var root = document.documentElement;
    if (theme === "light" || theme === "dark") root.setAttribute("data-theme", theme);
    else root.removeAttribute("data-theme");
    try {
      if (theme === "light" || theme === "dark") localStorage.setItem(THEME_KEY, theme);
      else localStorage.removeItem(THEME_KEY);
    } catch (e) { /* storage off: the choice lasts for this page only */ }
  }

  function startThemePicker() {
    var picker = document.querySelector("[data-theme-choice]");
    if (!picker) return;
    picker.value = storedTheme();
    picker.addEventListener("change", function () { applyTheme(picker.value); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startThemePicker);
  else startThemePicker();
})();
