// Starts Swagger UI on /docs from the schema this service describes; no outside validator
// (its badge would be fetched from swagger.io, which a government network never reaches).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.openapi, domNode: root, deepLinking: true, validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis]
  });
})();
