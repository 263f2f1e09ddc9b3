"""Taking a domain out of its pool and putting it back."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app import clock
from app.errors import MailpoolsError, NotFound
from app.services import audit, pools
from app.services.lookups import get_domain
from data.db import session_scope
from data.models import AuditEvent, Message, MessageKind, MessageStatus, Notification
from tests.database_state import database_state
from tests.factories import build_world, user


@pytest.fixture
def world(engine):
    build_world(engine)
    return engine


def remove(
    engine, domain="offers.bolt.example", reason="Bounce rate 9% over the last week.", by="sam"
):
    with session_scope(engine) as session:
        return pools.remove_domain(session, user(session, by), domain, reason=reason)


def reinstate(engine, domain="offers.bolt.example", by="tess"):
    with session_scope(engine) as session:
        return pools.reinstate_domain(session, user(session, by), domain)


def add_message(engine, domain, status, kind=MessageKind.CAMPAIGN) -> int:
    with session_scope(engine) as session:
        message = Message(
            message_id=f"<{uuid.uuid4().hex}@{domain}>",
            domain_id=get_domain(session, domain).id,
            from_addr=f"deals@{domain}",
            to_addr="reader@example.net",
            kind=kind,
            status=status,
            attempts=2,
            created_at=clock.now() - timedelta(days=1),
            next_attempt_at=clock.now() - timedelta(hours=20),
        )
        session.add(message)
        session.flush()
        return message.id


def refused_without_change(engine, action, match):
    before = database_state(engine)
    with pytest.raises(MailpoolsError, match=match) as refused:
        action()
    assert database_state(engine) == before
    return refused.value


def test_an_agent_removes_a_domain_and_the_owner_is_told_why(world):
    remove(world, reason="  Bounce rate 9%\nover the last week.  ")
    with Session(world) as session:
        domain = get_domain(session, "offers.bolt.example")
        assert domain.status == "removed"
        assert domain.removed_reason == "Bounce rate 9% over the last week."
        assert domain.removed_at == clock.now()
        notification = session.exec(select(Notification)).one()
        assert (notification.kind, notification.account_id, notification.domain_id) == (
            "domain_removed",
            domain.account_id,
            domain.id,
        )
        assert notification.title == "offers.bolt.example was removed from its pool"
        assert notification.body.startswith("Bounce rate 9% over the last week.")
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "domain.remove")).one()
        assert (event.actor, event.entity_id, event.domain_id) == ("sam", domain.name, domain.id)
        assert json.loads(event.before) == {"status": "active"}
        assert json.loads(event.after) == {
            "status": "removed",
            "reason": "Bounce rate 9% over the last week.",
        }


def test_health_checks_remove_as_the_system(world):
    with session_scope(world) as session:
        domain = get_domain(session, "offers.bolt.example")
        pools.remove_domain_from_pool(
            session,
            domain,
            reason="Complaint rate above the pool's limit.",
            actor=audit.SYSTEM_ACTOR,
        )
    with Session(world) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "domain.remove")).one()
        assert event.actor == "system"


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_removal_needs_a_reason(world, reason):
    refused = refused_without_change(world, lambda: remove(world, reason=reason), "Say why")
    assert refused.field == "reason"


def test_a_removed_domain_cannot_be_removed_again(world):
    remove(world)
    refused_without_change(world, lambda: remove(world), "already removed from its pool")


def test_reinstatement_releases_held_messages_only(world):
    held = [add_message(world, "offers.bolt.example", MessageStatus.HELD) for _ in range(3)]
    sent = add_message(world, "offers.bolt.example", MessageStatus.SENT)
    rejected = add_message(world, "offers.bolt.example", MessageStatus.REJECTED)
    held_elsewhere = add_message(world, "bolt.example", MessageStatus.HELD)
    remove(world)
    reinstate(world)
    with Session(world) as session:
        for message_id in held:
            message = session.get(Message, message_id)
            assert message.status == MessageStatus.QUEUED
            assert message.next_attempt_at == clock.now()
            assert message.attempts == 2
        assert session.get(Message, sent).status == MessageStatus.SENT
        assert session.get(Message, rejected).status == MessageStatus.REJECTED
        assert session.get(Message, held_elsewhere).status == MessageStatus.HELD
        domain = get_domain(session, "offers.bolt.example")
        assert (domain.status, domain.removed_reason, domain.removed_at) == ("active", None, None)
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "domain.reinstate")
        ).one()
        assert event.actor == "tess"
        assert json.loads(event.before) == {
            "status": "removed",
            "reason": "Bounce rate 9% over the last week.",
        }
        assert json.loads(event.after) == {"status": "active", "released_messages": 3}
        notification = session.exec(
            select(Notification).where(Notification.kind == "domain_reinstated")
        ).one()
        assert notification.domain_id == domain.id
        assert "held messages are queued again" in notification.body


def test_reinstating_an_active_domain_is_refused(world):
    refused_without_change(
        world, lambda: reinstate(world), "offers.bolt.example is not removed from its pool"
    )


def test_an_unknown_domain_is_named(world):
    with pytest.raises(NotFound, match="no sending domain named 'gone.example'"):
        remove(world, domain="gone.example")
    with pytest.raises(NotFound, match="no sending domain named 'gone.example'"):
        reinstate(world, domain="gone.example")


def test_remove_and_reinstate_as_often_as_needed(world):
    for _ in range(3):
        remove(world)
        reinstate(world)
    with Session(world) as session:
        actions = [
            e.action
            for e in session.exec(
                select(AuditEvent).where(AuditEvent.entity == "domain").order_by(AuditEvent.id)
            )
            if e.action.startswith("domain.")
        ]
    assert actions == ["domain.remove", "domain.reinstate"] * 3
