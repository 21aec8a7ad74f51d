"""The ASGI application: middleware, routers, error handler, the built SPA."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from fieldops import __version__
from fieldops.core import i18n
from fieldops.core.clock import Clock
from fieldops.core.db import Database
from fieldops.core.errors import install_error_handlers, problem
from fieldops.core.headers import RateLimit, SecurityHeaders
from fieldops.models_registry import load_all
from fieldops.settings import Settings, get_settings

log = logging.getLogger("fieldops")

# (module, attribute) of every router, in the order they appear in the docs.
ROUTERS = [
    ("fieldops.users.router", "auth_router"),
    ("fieldops.users.router", "router"),
    ("fieldops.organizations.router", "router"),
    ("fieldops.customers.router", "router"),
    ("fieldops.customers.router", "signup_router"),
    ("fieldops.service_types.router", "router"),
    ("fieldops.technicians.router", "router"),
    ("fieldops.work_orders.router", "router"),
    ("fieldops.work_orders.router", "exceptions_router"),
    ("fieldops.dispatch.router", "router"),
    ("fieldops.dispatch.router", "pool_router"),
    ("fieldops.sla.router", "router"),
    ("fieldops.notifications.router", "router"),
    ("fieldops.notifications.router", "tracking_router"),
    ("fieldops.comments.router", "router"),
    ("fieldops.live.router", "router"),
    ("fieldops.tracking.router", "router"),
]

STATIC_DIR = Path(__file__).parent / "static"


class BodyLimit(BaseHTTPMiddleware):
    """413 for bodies over the limit (uploads get the attachment limit), before anything parses them."""

    def __init__(self, app: object, json_limit: int, upload_limit: int) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.json_limit, self.upload_limit = json_limit, upload_limit

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method in ("POST", "PUT", "PATCH"):
            ctype = request.headers.get("content-type", "")
            limit = self.upload_limit if ctype.startswith("multipart/") else self.json_limit
            length = request.headers.get("content-length")
            if length is not None:
                try:
                    too_big = int(length) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    lang = i18n.negotiate(request.headers.get("accept-language"))
                    return problem(request, 413, "payload_too_large",
                                   i18n.render("payload_too_large", lang, {"limit": f"{limit // 1024} kB"}))
        return await call_next(request)


# Error answers any operation may give (RFC 9457 problem+json); documented on every operation of the API.
COMMON_ERRORS = {
    "401": "Not signed in, or the token is invalid, expired or revoked",
    "403": "The caller's role may not do this",
    "404": "The record does not exist or the caller may not see it",
    "409": "The record's state forbids the action",
    "412": "Stale If-Match",
    "413": "The request body is too large",
    "415": "The file type is not accepted",
    "422": "The payload is invalid",
    "428": "If-Match is missing",
    "429": "Too many requests (see Retry-After)",
    "503": "The service is temporarily unavailable (see Retry-After)",
}
PROBLEM_SCHEMA = {
    "type": "object", "title": "Problem", "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"}, "code": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def _local_times(node: object) -> None:
    """Shift and calendar times are local wall-clock times ("08:00:00") without an offset, which JSON Schema's
    `time` format (RFC 3339 full-time) requires; document them as what they are."""
    if isinstance(node, dict):
        if node.get("format") == "time" and node.get("type") == "string":
            node["format"] = "partial-time"
            node["pattern"] = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"
        for value in node.values():
            _local_times(value)
    elif isinstance(node, list):
        for value in node:
            _local_times(value)


def _document_problems(app: FastAPI) -> None:
    """Replace FastAPI's generated OpenAPI with one that documents the problem+json errors of every operation."""
    generate = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = generate()
        components = spec.setdefault("components", {})
        assert isinstance(components, dict)
        components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        ref = {"$ref": "#/components/schemas/Problem"}
        paths = spec.get("paths", {})
        assert isinstance(paths, dict)
        for item in paths.values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                for status, description in COMMON_ERRORS.items():
                    if status == "422" or status not in responses:
                        responses[status] = {"description": description,
                                             "content": {"application/problem+json": {"schema": ref}}}
        _local_times(spec)
        for unused in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(unused, None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """Build the application for the given settings (tests pass their own settings and clock)."""
    settings = settings or get_settings()
    load_all()
    app = FastAPI(
        title="fieldops API",
        version=__version__,
        description="Field-service dispatch and work orders (现场派单 / 工单系统). "
        "Sign in with POST /api/v1/auth/login or the Authorize button.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url="/api/v1/redoc",
        swagger_ui_parameters={"persistAuthorization": True},
    )
    app.state.settings = settings
    app.state.clock = clock or Clock()
    app.state.database = Database(settings.database_url)
    install_error_handlers(app)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(RateLimit, settings=settings, clock=app.state.clock)
    app.add_middleware(BodyLimit, json_limit=settings.max_body_kb * 1024,
                       upload_limit=settings.max_attachment_mb * 1024 * 1024 + 64 * 1024)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins.split(","),
                           allow_methods=["*"], allow_headers=["*"], expose_headers=["ETag"])
    app.add_middleware(SecurityHeaders, settings=settings)  # outermost: every answer gets the headers

    api = APIRouter(prefix="/api/v1")
    for module_name, attr in ROUTERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not module_name.startswith(str(exc.name)):
                raise
            continue
        api.include_router(getattr(module, attr))

    @api.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @api.get("/config", tags=["meta"])
    def public_config() -> dict[str, object]:
        return {"map_tile_url": settings.map_tile_url, "version": __version__, "locales": list(i18n.SUPPORTED)}

    app.include_router(api)
    _document_problems(app)

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    def api_not_found(request: Request, rest: str) -> JSONResponse:
        lang = i18n.negotiate(request.headers.get("accept-language"))
        return problem(request, 404, "not_found", i18n.render("not_found", lang, {"entity": "resource"}))

    @app.get("/{path:path}", include_in_schema=False)
    def spa(path: str) -> Response:
        target = (STATIC_DIR / path).resolve()
        if path and target.is_file() and STATIC_DIR.resolve() in target.parents:
            # Hashed build files never change; the entry points must always be revalidated.
            immutable = path.startswith("assets/")
            return FileResponse(target, headers={"Cache-Control": "public, max-age=31536000, immutable" if immutable
                                                 else "no-cache"})
        if path.startswith("assets/"):
            return Response(status_code=404)  # an old page asking for a replaced bundle: do not send HTML
        index = STATIC_DIR / "index.html"
        if index.exists():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return JSONResponse({"service": "fieldops", "version": __version__, "docs": "/api/v1/docs",
                             "openapi": "/api/v1/openapi.json"})

    @app.on_event("startup")
    async def _live_start() -> None:
        from fieldops.live import broadcaster  # one per process: polls live events for its SSE clients

        broadcaster.get(app).start()

    @app.on_event("shutdown")
    async def _live_stop() -> None:
        from fieldops.live import broadcaster

        await broadcaster.shutdown(app)

    @app.on_event("shutdown")
    def _dispose() -> None:
        app.state.database.dispose()

    return app
