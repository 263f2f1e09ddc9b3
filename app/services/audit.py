"""Audit events, written in the same transaction as the change they describe."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from app import clock
from data.models import Account, AuditEvent, Domain, User, saved_id, table_of

SYSTEM_ACTOR = "system"


# json.dumps(state, sort_keys=True, default=str), with the encoder made once rather than
# per event: half the cost of an event when thousands are written at once.
_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def _encode(state: dict[str, Any] | None) -> str | None:
    if state is None:
        return None
    return _ENCODER.encode(state)


def _event_row(
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    account_id: int | None = None,
    domain_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit event's columns, stamped now: what both ways of writing one store."""
    return {
        "at": clock.now(),
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "account_id": account_id,
        "domain_id": domain_id,
        "before": _encode(before),
        "after": _encode(after),
    }


def record(session: Session, **event: Any) -> AuditEvent:
    """Add an audit event to the session's transaction. The keywords are `_event_row`'s:
    actor, action, entity and entity_id, and optionally account_id, domain_id, before
    and after."""
    row = AuditEvent(**_event_row(**event))
    session.add(row)
    return row


_INSERT_EVENT = insert(table_of(AuditEvent))


def record_at_once(connection: Connection, **event: Any) -> None:
    """The same event as `record`, written now with one Core statement instead of at the
    next flush: for the paths that queue one message at a time (SMTP submission), where
    a flush per message cost more than the rest of the transaction. Whatever it refers
    to must already be in the database."""
    connection.execute(_INSERT_EVENT, _event_row(**event))


def record_many(database: Session | Connection, events: Sequence[dict[str, Any]]) -> None:
    """EVENTS (each the keywords of `record`) written now in one statement: for changes of
    many rows at once (an inventory file, a batch of submissions), where an ORM object and
    a flush per event cost more than the change itself. Whatever they refer to must
    already be in the database."""
    if events:
        database.execute(_INSERT_EVENT, [_event_row(**event) for event in events])


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    account: str | None
    domain: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


def list_events(
    session: Session,
    viewer: User,
    *,
    account: str | None = None,
    domain: str | None = None,
    user: str | None = None,
    kind: str | None = None,
    exclude: Sequence[str] = (),
    limit: int = 200,
) -> list[AuditView]:
    """Newest first, less the kinds in EXCLUDE. Owners see only their own account's events."""
    from app.services.auth import is_staff
    from app.services.lookups import get_account_for, get_domain_for

    if not all(text.isprintable() for text in (user or "", kind or "")):
        # No actor or action holds a control character (and PostgreSQL refuses NUL in a query).
        return []
    query = select(AuditEvent)
    if account:
        query = query.where(AuditEvent.account_id == get_account_for(session, viewer, account).id)
    if domain:
        query = query.where(AuditEvent.domain_id == get_domain_for(session, viewer, domain).id)
    if user:
        query = query.where(AuditEvent.actor == user)
    if kind:
        query = query.where(col(AuditEvent.action).startswith(kind, autoescape=True))
    for left_out in exclude:
        query = query.where(~col(AuditEvent.action).startswith(left_out, autoescape=True))
    if not is_staff(viewer):
        query = query.where(AuditEvent.account_id == viewer.account_id)
    query = query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(
        max(1, limit)
    )
    events = list(session.exec(query))
    account_names = dict(session.exec(select(Account.id, Account.name)).all())
    domain_ids = {e.domain_id for e in events if e.domain_id}
    domain_names = (
        dict(
            session.exec(select(Domain.id, Domain.name).where(col(Domain.id).in_(domain_ids))).all()
        )
        if domain_ids
        else {}
    )
    return [
        AuditView(
            id=saved_id(e),
            at=e.at,
            actor=e.actor,
            action=e.action,
            entity=e.entity,
            entity_id=e.entity_id,
            account=account_names.get(e.account_id),
            domain=domain_names.get(e.domain_id),
            before=json.loads(e.before) if e.before else None,
            after=json.loads(e.after) if e.after else None,
        )
        for e in events
    ]
