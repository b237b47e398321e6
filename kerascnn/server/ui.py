"""The browser page of ``kerascnn serve``: ``/`` and its files under ``/ui/``.

The page (``static/``: plain HTML, CSS and JavaScript, no build step, nothing from a CDN) calls
only TF Serving's public REST API: ``GET /v1/models/NAME`` for versions and their state,
``GET /v1/models/NAME/metadata`` for signatures, ``POST /v1/models/NAME:predict`` for the class
names, the top-k classes and, when the export has it, ``serving_gradcam``'s heatmap. Each request
it makes is shown as the curl command that makes it. TF Serving has no call that lists the
models a server holds, so that one fact comes from the server: ``/ui/models.json`` (names and
version labels, from the model config).

The page answers only ``GET``/``HEAD`` of ``/`` and ``/ui/...``; every other request, and every
``/v1/...`` path, goes on to the REST API untouched (TF Serving answers ``/`` with an empty 404,
which ``--no-ui`` keeps).

Example:
    >>> from aiohttp import web
    >>> app = web.Application()
    >>> install_ui(app, core=None)
    >>> len(app.middlewares)
    1
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).with_name("static")
"""The page's files, shipped as package data."""

PAGE_PATHS = ("/",)
"""Paths that answer the page itself."""

UI_PREFIX = "/ui/"
"""The page's own files and ``models.json`` live under this prefix, never under ``/v1/``."""

MODELS_JSON = UI_PREFIX + "models.json"

# Only the page's own sources: no inline scripts, no other origins, images also from data: URLs
# (the heatmap overlay comes back as base64 PNG).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def static_files() -> dict[str, Path]:
    """URL path -> file for every file of the page (a fixed list: no path is ever joined
    from the request, so nothing outside ``static/`` can be named).

    Example:
        >>> sorted(static_files())[:2]
        ['/ui/app.js', '/ui/index.html']
    """
    return {
        UI_PREFIX + path.relative_to(STATIC_DIR).as_posix(): path
        for path in sorted(STATIC_DIR.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


def models_listing(core) -> dict:
    """``{"models": [{"name", "version_labels"}]}`` for the models ``core`` is configured with.

    Example:
        >>> models_listing(None)
        {'models': []}
    """
    if core is None:
        return {"models": []}
    models = []
    for name, model in sorted(dict(core.models).items()):
        if getattr(model, "removed", False):
            continue
        labels = {label: int(v) for label, v in sorted(model.config.version_labels.items())}
        models.append({"name": name, "version_labels": labels})
    return {"models": models}


def _file_response(path: Path, head: bool) -> web.Response:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith("javascript"):
        content_type += "; charset=utf-8"
    body = path.read_bytes()
    headers = {**SECURITY_HEADERS, "Content-Type": content_type}
    if head:
        headers["Content-Length"] = str(len(body))
        return web.Response(headers=headers)
    return web.Response(body=body, headers=headers)


def install_ui(app: web.Application, core) -> None:
    """Serve the page on ``app`` (before it starts), ahead of its catch-all REST dispatch.

    A middleware rather than a route, because the REST API's one route takes every path; the
    middleware answers only the page's own paths and passes everything else through.

    Example:
        >>> install_ui(web.Application(), core=None)
    """
    files = static_files()
    index = STATIC_DIR / "index.html"

    @web.middleware
    async def page(request: web.Request, handler):
        if request.method not in ("GET", "HEAD"):
            return await handler(request)
        path = request.raw_path.split("?", 1)[0]
        head = request.method == "HEAD"
        if path in PAGE_PATHS:
            return _file_response(index, head)
        if path == MODELS_JSON:
            body = json.dumps(models_listing(core)).encode()
            headers = {**SECURITY_HEADERS, "Content-Type": "application/json"}
            return web.Response(body=None if head else body, headers=headers)
        if path in files:
            return _file_response(files[path], head)
        return await handler(request)

    app.middlewares.append(page)
