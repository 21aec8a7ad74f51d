"""FastAPI dependencies that resolve the caller: every protected router uses `get_ctx`."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from fieldops.core.clock import Clock
from fieldops.core.errors import Unauthorized
from fieldops.core.web import Ctx, app_clock, app_settings, get_db, request_lang
from fieldops.settings import Settings
from fieldops.users import service

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_ctx(
    request: Request,
    token: str | None = Depends(oauth2),
    db: Session = Depends(get_db),
    settings: Settings = Depends(app_settings),
    clock: Clock = Depends(app_clock),
) -> Ctx:
    """The request context of a signed-in caller; 401 without a valid access token."""
    if not token:
        raise Unauthorized("unauthorized")
    now = clock.now()
    principal = service.authenticate(db, settings, token, now)
    request.state.principal = principal
    return Ctx(db=db, principal=principal, now=now, settings=settings, lang=request_lang(request))
