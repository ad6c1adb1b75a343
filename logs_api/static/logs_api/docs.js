/* /api/docs: Swagger UI over /api/openapi.json. A file of its own rather than
   an inline script, so that a Content-Security-Policy of script-src 'self'
   allows the page. */
(function () {
  "use strict";

  function start() {
    var root = document.getElementById("swagger-ui");
    if (window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches) {
      document.documentElement.classList.add("dark-mode");  // Swagger UI's dark theme
    }
    window.ui = window.SwaggerUIBundle({
      url: root.dataset.specUrl,
      domNode: root,
      deepLinking: true,
      displayRequestDuration: true,
      validatorUrl: null  // never ask validator.swagger.io (no request leaves the page's host)
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
