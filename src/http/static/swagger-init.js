// Swagger UI for /api/docs; an external file because the CSP allows no inline scripts.
window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({ url: '/api/openapi.json', dom_id: '#swagger-ui', deepLinking: true });
});
