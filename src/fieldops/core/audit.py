"""The request audit log: one append-only row per successful change made through the API.

`TransactionalRoute` writes the row for every successful POST / PUT / PATCH / DELETE in the request's own
transaction, just before it commits: a change that rolls back leaves no audit row, and an audit row that
cannot be written rolls the change back. A mutating route that is deliberately not audited says so, with
the reason, through `openapi_extra=not_audited("...")` (the reason shows in the API docs).

Audit rows are append-only: the ORM refuses to update or delete them (`append_only` models; the demo
reset may purge the per-module trails of an organisation it removes, never `audit_log`), and the initial
migration adds database triggers that refuse UPDATE and DELETE on `audit_log` (and UPDATE on the
per-module trails) whatever client issues them. `audit_log` has no foreign keys, so nothing cascades into it:
the log outlives the records it names.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Uuid, event
from sqlalchemy.orm import Mapped, Mapper, ORMExecuteState, Session, mapped_column

from fieldops.core.db import Base, new_id

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_AUDITED = "x-not-audited"  # openapi_extra key of a mutating route that writes no audit row
PURGE = "fieldops.audit_purge"  # Session.info flag: the demo reset is removing a whole organisation


class AuditImmutable(RuntimeError):
    """Raised when the application tries to change or remove an audit row."""


def not_audited(reason: str) -> dict[str, Any]:
    """`openapi_extra` for a mutating route that writes no audit row, and why."""
    assert reason.strip(), "say why the route is not audited"
    return {NOT_AUDITED: reason}


class AuditLog(Base):
    """Who did what through the API, when: one row per successful mutating request."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_at", "org_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    at: Mapped[datetime]
    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)  # no FK: the log outlives the org
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)  # None: signed-out routes
    role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    action: Mapped[str] = mapped_column(String(250))  # "POST /api/v1/work-orders/{work_order_id}/assign"
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    path_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status_code: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # field names sent, never values


# ---- append-only guards -------------------------------------------------------------------------------

_APPEND_ONLY: dict[str, bool] = {}  # table name -> may the demo reset purge it (Session.info[PURGE])


def append_only(purgeable: bool = False) -> Any:
    """Class decorator: the ORM refuses to update or delete rows of this model (bulk statements included).
    `purgeable` trails may be deleted only inside `purging(db)` (removing a whole organisation)."""
    def mark(cls: Any) -> Any:
        _APPEND_ONLY[cls.__table__.name] = purgeable
        event.listen(cls, "before_update", _refuse_update)
        event.listen(cls, "before_delete", _refuse_delete)
        return cls
    return mark



def _refuse_update(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    name = str(getattr(mapper.local_table, "name", "?"))
    raise AuditImmutable(f"{name} rows cannot be updated")


def _refuse_delete(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    name = str(getattr(mapper.local_table, "name", "?"))
    session = Session.object_session(target)
    if not (_APPEND_ONLY.get(name) and session is not None and session.info.get(PURGE)):
        raise AuditImmutable(f"{name} rows cannot be deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name not in _APPEND_ONLY:
        return
    if state.is_delete and _APPEND_ONLY[name] and state.session.info.get(PURGE):
        return
    raise AuditImmutable(f"{name} rows cannot be {'updated' if state.is_update else 'deleted'}")


append_only()(AuditLog)


@contextlib.contextmanager
def purging(db: Session) -> Iterator[None]:
    """Allow deleting the purgeable trails (never `audit_log`) while removing an organisation."""
    db.info[PURGE] = True
    try:
        yield
    finally:
        db.info.pop(PURGE, None)


# ---- writing a row ----------------------------------------------------------------------------------

def field_names(body: bytes | None, form_keys: list[str] | None) -> list[str]:
    """The top-level field names a request sent (a JSON object's keys, a form's fields): never the values."""
    if form_keys:
        return sorted(set(form_keys))
    if not body:
        return []
    try:
        data = json.loads(body)
    except ValueError:
        return []
    return sorted(str(k) for k in data) if isinstance(data, dict) else []


def target_of(path_params: dict[str, Any], response_body: bytes | None, created: bool = False) -> str | None:
    """The record acted on: what the request created (201 with an id), else the innermost id in the path, else
    the id the answer names."""
    ids = [str(v) for k, v in path_params.items() if k.endswith("_id")]
    if ids and not created:
        return ids[-1][:64]
    if response_body and len(response_body) < 1_000_000:
        try:
            data = json.loads(response_body)
        except ValueError:
            return None
        if isinstance(data, dict) and isinstance(data.get("id"), str | int):
            return str(data["id"])[:64]
    return ids[-1][:64] if ids else None


def record(db: Session, *, at: datetime, action: str, status_code: int, request_id: str,
           principal: Any = None, path_params: dict[str, Any] | None = None, target_id: str | None = None,
           changes: dict[str, Any] | None = None) -> AuditLog:
    """Add one audit row to the caller's transaction (flushed, so a failure surfaces before the commit)."""
    row = AuditLog(at=at, action=action[:250], status_code=status_code, request_id=request_id[:64],
                   org_id=getattr(principal, "org_id", None), user_id=getattr(principal, "user_id", None),
                   role=str(principal.role.value) if principal is not None else None,
                   path_params={k: str(v) for k, v in (path_params or {}).items()}, target_id=target_id,
                   changes=changes or {})
    db.add(row)
    db.flush()
    return row


# ---- database triggers (the initial migration carries the same SQL; see scripts/regen_initial_migration.sh)

def trigger_sql(dialect: str) -> list[str]:
    """Statements that make the audit tables append-only in the database itself."""
    tables = {"audit_log": ("UPDATE", "DELETE"), "work_order_audit": ("UPDATE",), "location_audit": ("UPDATE",)}
    if dialect == "postgresql":
        out = ["CREATE OR REPLACE FUNCTION fieldops_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN RAISE EXCEPTION 'audit rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME "
               "USING ERRCODE = '42501'; END $$"]
        for table, ops in tables.items():
            out.append(f"CREATE TRIGGER {table}_append_only BEFORE {' OR '.join(ops)} ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION fieldops_audit_append_only()")
        out.append("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION fieldops_audit_append_only()")
        return out
    return [f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'audit rows are append-only: {op} on {table} refused'); END"
            for table, ops in tables.items() for op in ops]
