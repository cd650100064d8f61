// /docs: Swagger UI on this front door's own openapi.yaml. "Authorize" takes the service token (the
// document's bearer scheme); "Try it out" sends requests to this same origin.
window.addEventListener('load', () => {
  window.ui = SwaggerUIBundle({
    url: '/openapi.yaml',
    dom_id: '#swagger-ui',
    deepLinking: true,
    // The token stays in this tab's memory: not written to localStorage.
    persistAuthorization: false,
    // No validator badge: it would send the document to swagger.io.
    validatorUrl: null,
  });
});
