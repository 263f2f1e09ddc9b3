"""Transactional-pool requests: who may file them, what they need, and what approval does."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlmodel import Session, select

from app import clock
from app.errors import MailpoolsError, NotFound
from app.services.inventory import apply_inventory, parse
from app.services.lookups import get_domain
from app.services.requests import decisions, filing, listing
from data.db import session_scope
from data.models import (
    AuditEvent,
    DomainDailyStat,
    Message,
    MessageKind,
    MessageStatus,
    Notification,
    Pool,
    PoolRequest,
    RequestStatus,
)
from tests.database_state import database_state
from tests.factories import build_world, user

JUSTIFICATION = "Password resets and order receipts for customers who bought from our shop."


@pytest.fixture
def world(engine):
    build_world(engine)
    return engine


def file_transactional(
    engine,
    *,
    by: str = "alice",
    domain: str = "acme.example",
    justification: str = JUSTIFICATION,
    confirmation: str | None = None,
) -> int:
    with session_scope(engine) as session:
        request = filing.request_transactional(
            session,
            user(session, by),
            domain,
            justification=justification,
            confirmation=domain if confirmation is None else confirmation,
        ).subject
        return request.id


def queue_message(engine, domain: str, kind: str, status: str = MessageStatus.QUEUED) -> int:
    with session_scope(engine) as session:
        message = Message(
            message_id=f"<{uuid.uuid4().hex}@{domain}>",
            domain_id=get_domain(session, domain).id,
            from_addr=f"news@{domain}",
            to_addr="reader@example.net",
            kind=kind,
            status=status,
            created_at=clock.now(),
            next_attempt_at=clock.now(),
        )
        session.add(message)
        session.flush()
        return message.id


def refused_without_change(engine, action, *, match: str | None = None, error=MailpoolsError):
    before = database_state(engine)
    with pytest.raises(error, match=match) as refused:
        action()
    assert database_state(engine) == before
    return refused.value


def test_owner_files_a_request_that_waits_for_review(world):
    request_id = file_transactional(world)
    with Session(world) as session:
        request = session.get(PoolRequest, request_id)
        assert request.status == RequestStatus.PENDING
        assert request.kind == "transactional"
        assert request.justification == JUSTIFICATION
        assert request.confirmation == "acme.example"
        assert request.requester_id == user(session, "alice").id
        assert request.created_at == clock.now()
        assert [d.name for d in listing.request_domains(session, request)] == ["acme.example"]
        domain = get_domain(session, "acme.example")
        assert domain.sending_mode == "shared"
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "request.transactional.file")
        ).one()
        assert event.actor == "alice"
        assert event.entity_id == str(request_id)
        assert event.domain_id == domain.id
        assert json.loads(event.after)["justification"] == JUSTIFICATION


def test_confirmation_in_another_case_with_a_final_dot_is_accepted(world):
    request_id = file_transactional(world, confirmation="ACME.Example.")
    with Session(world) as session:
        assert session.get(PoolRequest, request_id).confirmation == "ACME.Example."


def test_domain_without_the_transactional_service_is_refused(world):
    refused_without_change(
        world,
        lambda: file_transactional(world, domain="news.acme.example"),
        match="news.acme.example is not used with the transactional service",
    )


@pytest.mark.parametrize(
    "justification", ["", "   ", "test test test test test test", "please approve thanks ok yes"]
)
def test_empty_or_filler_justification_is_refused(world, justification):
    refused = refused_without_change(
        world, lambda: file_transactional(world, justification=justification)
    )
    assert refused.field == "justification"


@pytest.mark.parametrize("confirmation", ["bolt.example", "acme.exampl", "   "])
def test_wrong_confirmation_is_refused(world, confirmation):
    refused = refused_without_change(
        world,
        lambda: file_transactional(world, confirmation=confirmation),
        match="Type the domain name exactly to confirm: acme.example",
    )
    assert refused.field == "confirmation"


def test_one_open_request_per_domain(world):
    first = file_transactional(world)
    refused_without_change(
        world,
        lambda: file_transactional(world),
        match=f"acme.example already has an open transactional request \\(#{first}\\)",
    )
    # Another domain of the same account is not blocked.
    file_transactional(world, domain="billing.acme.example")


def test_an_open_dedicated_request_also_blocks_a_transactional_one(world):
    with session_scope(world) as session:
        dedicated = filing.request_dedicated(
            session, user(session, "alice"), ["acme.example"], weekly_volume=80_000
        ).subject
        dedicated_id = dedicated.id
    refused_without_change(
        world,
        lambda: file_transactional(world),
        match=f"already has an open dedicated request \\(#{dedicated_id}\\)",
    )


def test_a_denied_request_can_be_filed_again(world):
    first = file_transactional(world)
    with session_scope(world) as session:
        decisions.deny(session, user(session, "sam"), first, reason="Tell us more about it.")
    second = file_transactional(world)
    assert second != first


def test_owner_cannot_file_for_another_accounts_domain(world):
    refused_without_change(
        world,
        lambda: file_transactional(world, by="bruno", domain="acme.example"),
        match="^There is no sending domain named 'acme.example'.$",
        error=NotFound,
    )


def test_unknown_domain_is_named(world):
    refused_without_change(
        world,
        lambda: file_transactional(world, domain="nowhere.example"),
        match="There is no sending domain named 'nowhere.example'",
    )


def approve(engine, request_id: int, by: str = "sam"):
    with session_scope(engine) as session:
        return decisions.approve(session, user(session, by), request_id)


def test_approval_moves_the_domain_into_the_transactional_pool(world):
    request_id = file_transactional(world)
    approve(world, request_id)
    with Session(world) as session:
        domain = get_domain(session, "acme.example")
        pool = session.get(Pool, domain.transactional_pool_id)
        assert domain.sending_mode == "transactional"
        assert pool.kind == "transactional"
        request = session.get(PoolRequest, request_id)
        assert request.status == RequestStatus.APPROVED
        assert request.reviewer_id == user(session, "sam").id
        assert request.decided_at == clock.now()
        # The other domains of the account are untouched.
        assert get_domain(session, "billing.acme.example").sending_mode == "shared"


def test_approval_rejects_queued_campaigns_and_broadcasts_with_the_reason(world):
    campaign = queue_message(world, "acme.example", MessageKind.CAMPAIGN)
    broadcast = queue_message(world, "acme.example", MessageKind.BROADCAST)
    held_campaign = queue_message(world, "acme.example", MessageKind.CAMPAIGN, MessageStatus.HELD)
    receipt = queue_message(world, "acme.example", MessageKind.TRANSACTIONAL)
    other_domain = queue_message(world, "billing.acme.example", MessageKind.CAMPAIGN)
    approve(world, file_transactional(world))
    with Session(world) as session:
        for message_id, kind in (
            (campaign, "campaign"),
            (broadcast, "broadcast"),
            (held_campaign, "campaign"),
        ):
            message = session.get(Message, message_id)
            assert message.status == MessageStatus.REJECTED
            assert message.last_reply == (
                "acme.example is in the transactional pool, which sends transactional "
                f"messages only: {kind}s from it are refused."
            )
            assert message.finished_at == clock.now()
        domain = get_domain(session, "acme.example")
        assert session.get(DomainDailyStat, (domain.id, clock.today(), 0)).rejected == 3
        assert session.get(Message, receipt).status == MessageStatus.QUEUED
        assert session.get(Message, other_domain).status == MessageStatus.QUEUED
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "request.transactional.approve")
        ).one()
        assert json.loads(event.after)["rejected_queued_messages"] == 3


def test_approval_notifies_the_account_and_is_audited(world):
    request_id = file_transactional(world)
    approve(world, request_id, by="tess")
    with Session(world) as session:
        notification = session.exec(
            select(Notification).where(Notification.kind == "request_approved")
        ).one()
        acme_id = get_domain(session, "acme.example").account_id
        assert notification.account_id == acme_id
        assert "acme.example" in notification.title
        assert "Campaigns and broadcasts from it are refused" in notification.body
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "request.transactional.approve")
        ).one()
        assert event.actor == "tess"
        assert event.account_id == acme_id
        assert json.loads(event.before) == {"status": "pending"}
        assert json.loads(event.after)["status"] == "approved"


def test_a_domain_already_in_the_transactional_pool_cannot_ask_again(world):
    approve(world, file_transactional(world))
    refused_without_change(
        world, lambda: file_transactional(world), match="already in the transactional pool"
    )


def test_a_domain_on_dedicated_ips_cannot_ask_for_the_transactional_pool(world):
    with session_scope(world) as session:
        dedicated = filing.request_dedicated(
            session, user(session, "alice"), ["acme.example"], weekly_volume=80_000
        ).subject
        dedicated_id = dedicated.id
    approve(world, dedicated_id)
    refused_without_change(
        world, lambda: file_transactional(world), match="sends from dedicated IPs"
    )


def test_denial_needs_a_reason(world):
    request_id = file_transactional(world)
    for reason in ("", "   \n"):

        def deny(reason=reason):
            with session_scope(world) as session:
                decisions.deny(session, user(session, "sam"), request_id, reason=reason)

        refused = refused_without_change(world, deny, match="A denial needs a reason")
        assert refused.field == "reason"


def test_denial_keeps_the_domain_where_it_is_and_tells_the_owner_why(world):
    request_id = file_transactional(world)
    with session_scope(world) as session:
        decisions.deny(
            session, user(session, "sam"), request_id, reason="  Your bounce rate is too high.  "
        )
    with Session(world) as session:
        request = session.get(PoolRequest, request_id)
        assert request.status == RequestStatus.DENIED
        assert request.decision_reason == "Your bounce rate is too high."
        assert get_domain(session, "acme.example").sending_mode == "shared"
        notification = session.exec(
            select(Notification).where(Notification.kind == "request_denied")
        ).one()
        assert notification.body == "Your bounce rate is too high."
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "request.transactional.deny")
        ).one()
        assert event.actor == "sam"
        assert json.loads(event.after) == {
            "status": "denied",
            "reason": "Your bounce rate is too high.",
        }


def test_a_failure_during_approval_leaves_no_trace(world):
    """The audit event, the notification and the move are one transaction with the decision."""
    request_id = file_transactional(world)
    before = database_state(world)

    class Interrupted(Exception):
        pass

    with pytest.raises(Interrupted):
        with session_scope(world) as session:
            decisions.approve(session, user(session, "sam"), request_id)
            session.flush()
            raise Interrupted
    assert database_state(world) == before


def test_approval_without_a_transactional_pool_is_a_clear_error(world):
    request_id = file_transactional(world)
    with session_scope(world) as session:
        for pool in session.exec(select(Pool).where(Pool.kind == "transactional")):
            pool.kind = "shared"
            session.add(pool)
    refused_without_change(
        world, lambda: approve(world, request_id), match="There is no transactional pool yet"
    )


def test_an_idn_domain_is_confirmed_in_either_form(world):
    with session_scope(world) as session:
        entries = {
            "domains": [
                {"name": "bücher.example", "account": "acme", "transactional_service": True}
            ]
        }
        apply_inventory(session, None, parse(entries, "test"))
    first = file_transactional(
        world, domain="bücher.example", confirmation="XN--BCHER-KVA.example."
    )
    with session_scope(world) as session:
        decisions.deny(session, user(session, "sam"), first, reason="Tell us more about it.")
    second = file_transactional(
        world, domain="xn--bcher-kva.example", confirmation="Bücher.Example"
    )
    with Session(world) as session:
        for request_id in (first, second):
            request = session.get(PoolRequest, request_id)
            domains = listing.request_domains(session, request)
            assert [d.name for d in domains] == ["xn--bcher-kva.example"]
    refused_without_change(
        world,
        lambda: file_transactional(world, domain="bücher.example", confirmation="bucher.example"),
        match="Type the domain name exactly to confirm",
    )
