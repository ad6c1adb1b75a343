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
})();
