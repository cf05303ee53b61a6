"""Security headers on every answer, and `/docs` served from the service itself.

`secure_api(app, docs=settings.docs_enabled)` is the one line a FastAPI service needs:

- every response gets a strict Content-Security-Policy (an API answer loads nothing), `nosniff`,
  `frame-ancestors 'none'` / `X-Frame-Options: DENY` and a same-origin referrer policy, unless the
  route set its own (the managers' page does, for its scripts and styles);
- FastAPI's `/docs` and `/redoc`, which load Swagger UI and ReDoc from a CDN without integrity
  hashes, are removed; with `docs=True`, `/docs` serves the Swagger UI files shipped in the
  pinned `fastapi-offline` package, started by a script of our own (no inline script), under a
  CSP that admits only this origin. `/openapi.json` stays either way.
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from typing import Annotated

from fastapi import FastAPI, Path
from fastapi.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard_shared.problems import problem_response

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": API_CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
ASSETS = "/docs/assets"
SWAGGER_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
INIT_SCRIPT = """\
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout"
  });
})();
"""
DOCS_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API</title>
<link rel="icon" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP answer that does not set them itself."""

    def __init__(self, app: ASGIApp, headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in (headers or SECURITY_HEADERS).items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _swagger_file(name: str) -> bytes:
    return (resources.files("fastapi_offline") / "static" / name).read_bytes()


def _asset(body: bytes, media_type: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400", "Content-Security-Policy": DOCS_CSP},
    )


def _without_cdn_docs(routes: list[BaseRoute]) -> None:
    routes[:] = [r for r in routes if not (isinstance(r, Route) and r.path in DOCS_PATHS)]


def install_local_docs(app: FastAPI) -> None:
    if importlib.util.find_spec("fastapi_offline") is None:
        raise RuntimeError(
            "/docs serves Swagger UI from the fastapi-offline package: add it to the service's "
            "dependencies, or turn the docs off"
        )
    openapi = app.openapi_url or "/openapi.json"
    html = DOCS_PAGE.format(title=app.title, assets=ASSETS, openapi=openapi)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP})

    @app.get(f"{ASSETS}/{{name}}", include_in_schema=False)
    async def docs_asset(name: Annotated[str, Path(max_length=64)]) -> Response:
        if name == "swagger-init.js":
            return _asset(INIT_SCRIPT.encode(), "text/javascript; charset=utf-8")
        media_type = SWAGGER_FILES.get(name)
        if media_type is None:
            return problem_response(404, "Not found", "no such file")
        return _asset(_swagger_file(name), media_type)


def secure_api(app: FastAPI, *, docs: bool = True) -> None:
    """Security headers on every answer; `/docs` from local files (or none)."""
    _without_cdn_docs(app.router.routes)
    app.docs_url = app.redoc_url = None
    if docs:
        install_local_docs(app)
    app.add_middleware(SecurityHeaders)
