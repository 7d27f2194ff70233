// Renders the document named by #swagger-ui's data-openapi-url with Swagger UI. A file, not an
// inline script, so the page works under a Content-Security-Policy without 'unsafe-inline'.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    deepLinking: true,
    // "Try it out" needs a token: the Authorize button takes it (it stays in this page).
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
