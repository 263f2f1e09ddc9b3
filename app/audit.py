"""Audit events, written in the same transaction as the change they describe."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from app import clock
from data.models import AuditEvent

SYSTEM_ACTOR = "system"


def _encode(state: dict[str, Any] | None) -> str | None:
    if state is None:
        return None
    return json.dumps(state, sort_keys=True, default=str)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    account_id: int | None = None,
    domain_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        at=clock.now(),
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        account_id=account_id,
        domain_id=domain_id,
        before=_encode(before),
        after=_encode(after),
    )
    session.add(event)
    return event
