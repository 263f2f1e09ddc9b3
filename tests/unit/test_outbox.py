"""The enqueue service: addresses, ownership, the transactional refusal, unique Message-IDs."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.errors import MailpoolsError, NotFound, PermissionDenied
from app.services.outbox import enqueue, parse_address
from data.db import session_scope
from data.models import AuditEvent, Message, MessageStatus
from tests.factories import user
from tests.sending_world import make_transactional, world


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (" reader@Example.org ", ("reader@example.org", "example.org")),
        ("a@Bücher.example", ("a@xn--bcher-kva.example", "xn--bcher-kva.example")),
        ("first.last+tag@sub.dest.test", ("first.last+tag@sub.dest.test", "sub.dest.test")),
    ],
)
def test_addresses_are_accepted_in_their_ascii_form(typed, expected):
    assert parse_address(typed, "to") == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "reader",
        "reader@",
        "@dest.test",
        "a b@dest.test",
        "ü@dest.test",
        "a@localhost",
        "a@dest..test",
        "<a@dest.test>",
    ],
)
def test_addresses_smtp_cannot_carry_are_refused_with_the_field(typed):
    with pytest.raises(MailpoolsError) as refused:
        parse_address(typed, "to")
    assert refused.value.field == "to"


@pytest.fixture
def sending_world(engine):
    return world(engine)


def test_each_message_gets_its_own_message_id_and_one_audit_event(sending_world):
    engine = sending_world
    with session_scope(engine) as session:
        result = enqueue(
            session,
            user(session, "bruno"),
            from_addr="deals@offers.bolt.example",
            to_addr="x@dest.test",
            kind="broadcast",
            subject="  Winter\r\n sale ",
            count=50,
        )
    assert result.count == 50
    with session_scope(engine) as session:
        rows = session.exec(select(Message)).all()
        assert len({m.message_id for m in rows}) == 50 == len(rows)
        assert all(m.message_id.endswith("@offers.bolt.example>") for m in rows)
        assert {(m.status, m.subject, m.attempts) for m in rows} == {
            (MessageStatus.QUEUED, "Winter sale", 0)
        }
        [event] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "message.enqueue")
        ).all()
        assert event.actor == "bruno" and event.entity_id == "offers.bolt.example"


@pytest.mark.parametrize(
    ("actor", "from_addr", "kind", "error", "words"),
    [
        ("bruno", "news@acme.example", "transactional", NotFound, "no sending domain"),
        ("sam", "news@acme.example", "transactional", PermissionDenied, "own account"),
        ("alice", "news@acme.example", "campaign", MailpoolsError, "transactional pool"),
        ("alice", "news@acme.example", "newsletter", MailpoolsError, "not a message kind"),
        ("alice", "news@nowhere.example", "transactional", MailpoolsError, "no sending domain"),
    ],
)
def test_refusals_write_nothing(sending_world, actor, from_addr, kind, error, words):
    engine = sending_world
    make_transactional(engine, "acme.example")
    with pytest.raises(error, match=words):
        with session_scope(engine) as session:
            enqueue(
                session, user(session, actor), from_addr=from_addr, to_addr="x@dest.test", kind=kind
            )
    with session_scope(engine) as session:
        assert session.exec(select(Message)).first() is None
        assert (
            session.exec(select(AuditEvent).where(AuditEvent.action == "message.enqueue")).first()
            is None
        )
