"""Audit events: who did what, when, and the state before and after."""

from __future__ import annotations

import json
from datetime import date

from sqlmodel import Session, select

from app import clock
from app.services import audit
from data.db import session_scope
from data.models import AuditEvent


def test_an_event_records_who_what_when_before_and_after(engine):
    with session_scope(engine) as session:
        audit.record(
            session,
            actor="sam",
            action="domain.remove",
            entity="domain",
            entity_id=42,
            before={"status": "active", "since": date(2026, 11, 1)},
            after={"status": "removed", "reason": "Bounces."},
        )
        audit.record(session, actor=audit.SYSTEM_ACTOR, action="x.y", entity="thing", entity_id="t")
    with Session(engine) as session:
        first, second = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert (first.actor, first.action, first.entity, first.entity_id) == (
        "sam",
        "domain.remove",
        "domain",
        "42",
    )
    assert first.at == clock.now()
    assert json.loads(first.before) == {"since": "2026-11-01", "status": "active"}
    assert first.after == '{"reason": "Bounces.", "status": "removed"}'
    assert (second.actor, second.before, second.after) == ("system", None, None)
