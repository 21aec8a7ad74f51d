"""Typed errors, rendered once as RFC 9457 application/problem+json in the caller's language."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fieldops.core import i18n

log = logging.getLogger("fieldops.errors")
PROBLEM = "application/problem+json"


class FieldOpsError(Exception):
    """Base of every error the API shows a person. Subclasses fix the HTTP status."""

    status: int = 400
    code: str = "invalid"

    def __init__(self, code: str | None = None, /, *, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None, **params: Any) -> None:
        self.code = code or self.code
        self.params = params
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(i18n.render(self.code, "en", params))


class InvalidInput(FieldOpsError):
    """422: the payload is well-formed but a rule rejects it (detail=..., detail_zh=...)."""

    status = 422
    code = "invalid"

    def __init__(self, detail: str, detail_zh: str | None = None, *, field: str | None = None) -> None:
        extra = {"errors": [{"field": field, "message": detail, "message_zh": detail_zh or detail}]} if field else None
        super().__init__("invalid", detail=detail, detail_zh=detail_zh or detail, extra=extra)


class Unauthorized(FieldOpsError):
    status = 401
    code = "unauthorized"

    def __init__(self, code: str = "unauthorized", **params: Any) -> None:
        super().__init__(code, headers={"WWW-Authenticate": "Bearer"}, **params)


class Forbidden(FieldOpsError):
    status = 403
    code = "forbidden"


class NotFound(FieldOpsError):
    status = 404
    code = "not_found"

    def __init__(self, entity: str = "resource") -> None:
        super().__init__("not_found", entity=entity)


class Conflict(FieldOpsError):
    """409: the record's state forbids the action."""

    status = 409
    code = "conflict"


class PreconditionFailed(FieldOpsError):
    status = 412
    code = "precondition_failed"


class PreconditionRequired(FieldOpsError):
    status = 428
    code = "precondition_required"


class PayloadTooLarge(FieldOpsError):
    status = 413
    code = "payload_too_large"


class UnsupportedMedia(FieldOpsError):
    status = 415
    code = "unsupported_media"


class TooManyRequests(FieldOpsError):
    status = 429
    code = "throttled"

    def __init__(self, retry_after: int, code: str = "throttled") -> None:
        super().__init__(code, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


class ServiceUnavailable(FieldOpsError):
    status = 503
    code = "unavailable"


class IdempotencyMismatch(FieldOpsError):
    status = 422
    code = "idempotency_mismatch"


def conflict(detail: str, detail_zh: str) -> Conflict:
    return Conflict("conflict", detail=detail, detail_zh=detail_zh)


def problem(request: Request, status: int, code: str, detail: str,
            headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> JSONResponse:
    lang = i18n.negotiate(request.headers.get("accept-language"))
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": i18n.title(status, lang),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "")


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through one renderer so clients only ever see problem+json."""

    @app.exception_handler(FieldOpsError)
    async def _fieldops(request: Request, exc: FieldOpsError) -> JSONResponse:
        lang = i18n.negotiate(request.headers.get("accept-language"))
        extra = dict(exc.extra)
        if "errors" in extra:  # field messages in the caller's language
            extra["errors"] = [{k: v for k, v in {**e, "message": e.get("message_zh", e.get("message"))
                                                  if lang == "zh-CN" else e.get("message")}.items()
                                if k != "message_zh"} for e in extra["errors"]]
        return problem(request, exc.status, exc.code, i18n.render(exc.code, lang, exc.params), exc.headers, extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = i18n.negotiate(request.headers.get("accept-language"))
        errors = []
        for err in exc.errors():
            msg = str(err.get("msg", ""))
            if lang == "zh-CN":
                msg = i18n.PYDANTIC_ZH.get(str(err.get("type")), msg)
            errors.append({"field": _field_path(tuple(err.get("loc", ()))), "message": msg,
                           "type": err.get("type")})
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        detail = i18n.render("validation", lang, {"summary": summary})
        return problem(request, 422, "validation", detail, extra={"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        lang = i18n.negotiate(request.headers.get("accept-language"))
        code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                413: "payload_too_large"}.get(exc.status_code, "invalid")
        params: dict[str, Any] = {"entity": "resource", "limit": "", "detail": str(exc.detail),
                                  "detail_zh": str(exc.detail)}
        return problem(request, exc.status_code, code, i18n.render(code, lang, params),
                       dict(exc.headers or {}))

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> JSONResponse:
        lang = i18n.negotiate(request.headers.get("accept-language"))
        return problem(request, 412, "precondition_failed",
                       i18n.render("precondition_failed", lang, {"current": "?"}))

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        lang = i18n.negotiate(request.headers.get("accept-language"))
        return problem(request, 503, "unavailable", i18n.render("unavailable", lang, {}),
                       {"Retry-After": "2"})

    @app.exception_handler(PoolTimeout)
    async def _pool_full(request: Request, exc: PoolTimeout) -> JSONResponse:
        log.warning("no database connection free: %s", exc)
        lang = i18n.negotiate(request.headers.get("accept-language"))
        return problem(request, 503, "unavailable", i18n.render("unavailable", lang, {}), {"Retry-After": "2"})

    @app.exception_handler(DBAPIError)
    async def _db_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            lang = i18n.negotiate(request.headers.get("accept-language"))
            return problem(request, 503, "unavailable", i18n.render("unavailable", lang, {}),
                           {"Retry-After": "2"})
        log.exception("database error")
        lang = i18n.negotiate(request.headers.get("accept-language"))
        return problem(request, 500, "internal", i18n.render("internal", lang, {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        lang = i18n.negotiate(request.headers.get("accept-language"))
        return problem(request, 500, "internal", i18n.render("internal", lang, {}))
