"""The API's interactive documentation (``/docs``), served from the vendored Swagger UI.

FastAPI's default page loads Swagger UI from a CDN and is blank without internet; this
one loads ``swagger-ui-dist`` from ``/static/vendor/`` (pinned in frontend/package.json,
copied by frontend/vendor.sh), so the docs work offline like the dashboard does.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
SWAGGER = "/static/vendor/swagger-ui-dist"
# No online validator badge: it would ask an outside server to validate the document.
PARAMETERS = {"validatorUrl": None, "persistAuthorization": True}


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (and its OAuth2 redirect) from the vendored Swagger UI; the app
    must be created with ``docs_url=None`` so FastAPI's CDN page is not registered."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} — API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
            oauth2_redirect_url=OAUTH2_REDIRECT_URL, swagger_ui_parameters=PARAMETERS)

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
