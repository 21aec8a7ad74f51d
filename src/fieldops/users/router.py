"""Sign-in, sessions, password reset and user administration."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from fieldops.core.audit import not_audited
from fieldops.core.clock import Clock
from fieldops.core.errors import FieldOpsError
from fieldops.core.schemas import Page
from fieldops.core.security import PASSWORD_RULES_EN, PASSWORD_RULES_ZH
from fieldops.core.web import (
    Ctx,
    PageParams,
    TransactionalRoute,
    app_clock,
    app_settings,
    get_db,
    page_params,
    with_etag,
)
from fieldops.settings import Settings
from fieldops.users import service
from fieldops.users.deps import get_ctx
from fieldops.users.schemas import (
    LoginRequest,
    LogoutRequest,
    Message,
    MeUpdate,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    TokenPair,
    UserCreate,
    UserRead,
    UserUpdate,
)

auth_router = APIRouter(prefix="/auth", tags=["auth"], route_class=TransactionalRoute)
router = APIRouter(prefix="/users", tags=["users"], route_class=TransactionalRoute)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login(request: Request, db: Session, settings: Settings, clock: Clock, username: str,
           password: str) -> TokenPair:
    try:
        return service.login(db, settings, username=username, password=password, client_addr=_client(request),
                             user_agent=request.headers.get("user-agent"), now=clock.now())
    except FieldOpsError:
        db.commit()  # keep the counted failure even though the request fails
        raise


@auth_router.post("/login", response_model=TokenPair, summary="Sign in with e-mail or phone and password")
def login(body: LoginRequest, request: Request, db: Session = Depends(get_db),
          settings: Settings = Depends(app_settings), clock: Clock = Depends(app_clock)) -> TokenPair:
    return _login(request, db, settings, clock, body.username, body.password)


@auth_router.post("/token", response_model=TokenPair, include_in_schema=True,
                  summary="OAuth2 password form (used by the docs' Authorize button)")
def token(request: Request, username: Annotated[str, Form(max_length=254)],
          password: Annotated[str, Form(max_length=256)], db: Session = Depends(get_db),
          settings: Settings = Depends(app_settings), clock: Clock = Depends(app_clock)) -> TokenPair:
    return _login(request, db, settings, clock, username, password)


@auth_router.post("/refresh", response_model=TokenPair, openapi_extra=not_audited(
    "rotates the caller's own token pair; the sign-in that started the session is audited"))
def refresh(body: RefreshRequest, db: Session = Depends(get_db), settings: Settings = Depends(app_settings),
            clock: Clock = Depends(app_clock)) -> TokenPair:
    try:
        return service.refresh(db, settings, body.refresh_token, clock.now())
    except FieldOpsError:
        db.commit()  # a reused refresh token revokes its session; keep that
        raise


@auth_router.post("/logout", response_model=Message)
def logout(body: LogoutRequest | None = None, ctx: Ctx = Depends(get_ctx)) -> Message:
    service.logout(ctx)
    return Message(message="signed out")


@auth_router.post("/password", response_model=Message, summary="Change your password")
def change_password(body: PasswordChange, ctx: Ctx = Depends(get_ctx)) -> Message:
    service.change_password(ctx, body.current_password, body.new_password)
    return Message(message="password changed; sign in again")


@auth_router.get("/password-policy", response_model=dict[str, str])
def password_policy() -> dict[str, str]:
    return {"en": PASSWORD_RULES_EN, "zh-CN": PASSWORD_RULES_ZH}


@auth_router.post("/password-reset/request", response_model=Message, status_code=202)
def password_reset_request(body: PasswordResetRequest, db: Session = Depends(get_db),
                           settings: Settings = Depends(app_settings),
                           clock: Clock = Depends(app_clock)) -> Message:
    service.request_password_reset(db, settings, body.username, clock.now())
    return Message(message="If the account exists, a code has been sent.")


@auth_router.post("/password-reset/confirm", response_model=Message)
def password_reset_confirm(body: PasswordResetConfirm, db: Session = Depends(get_db),
                           settings: Settings = Depends(app_settings),
                           clock: Clock = Depends(app_clock)) -> Message:
    try:
        service.confirm_password_reset(db, settings, body.username, body.code, body.new_password, clock.now())
    except FieldOpsError:
        db.commit()  # count the wrong attempt
        raise
    return Message(message="password changed; sign in with the new password")


@auth_router.get("/me", response_model=UserRead)
def me(ctx: Ctx = Depends(get_ctx)) -> UserRead:
    return service.to_read(ctx.db, service.get_user_self(ctx))


@auth_router.patch("/me", response_model=UserRead)
def update_me(body: MeUpdate, ctx: Ctx = Depends(get_ctx)) -> UserRead:
    return service.to_read(ctx.db, service.update_me(ctx, body.name, body.locale))


@router.get("", response_model=Page[UserRead])
def list_users(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params),
               role: str | None = Query(None, max_length=20),
               q: str | None = Query(None, max_length=200)) -> Page[UserRead]:
    rows, total = service.list_users(ctx, role=role, q=q, limit=page.limit, offset=page.offset)
    return Page(items=[service.to_read(ctx.db, u) for u in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("", response_model=UserRead, status_code=201)
def create_user(body: UserCreate, ctx: Ctx = Depends(get_ctx)) -> UserRead:
    return service.to_read(ctx.db, service.create_user(ctx, body))


@router.get("/{user_id}", response_model=UserRead)
def get_user(user_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    user = service.get_user(ctx, user_id)
    return with_etag(service.to_read(ctx.db, user), user.version)


@router.patch("/{user_id}", response_model=UserRead, summary="Change a user (admins; If-Match required)")
def update_user(user_id: uuid.UUID, body: UserUpdate, ctx: Ctx = Depends(get_ctx),
                if_match: str | None = Header(None, alias="If-Match")) -> JSONResponse:
    user = service.update_user(ctx, user_id, body, if_match)
    return with_etag(service.to_read(ctx.db, user), user.version)


@router.post("/{user_id}/unlock", response_model=Message)
def unlock_user(user_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> Message:
    service.unlock_user(ctx, user_id)
    return Message(message="unlocked")
