"""Reviewing requests: deciding once, listing the queue, and what a listing shows."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session

from app.errors import AlreadyDecided, MailpoolsError, NotFound
from app.services.requests import allocation, decisions, filing, listing
from data.db import session_scope
from tests.clock_moves import move_clock
from tests.database_state import database_state
from tests.factories import build_world, user

JUSTIFICATION = "Password resets and order receipts for customers who bought from our shop."


@pytest.fixture
def world(engine):
    build_world(engine)
    return engine


def file_transactional(engine, by="alice", domain="acme.example") -> int:
    with session_scope(engine) as session:
        return filing.request_transactional(
            session, user(session, by), domain, justification=JUSTIFICATION, confirmation=domain
        ).subject.id


def file_dedicated(engine, domains, by="alice", ips=1, volume=80_000) -> int:
    with session_scope(engine) as session:
        return filing.request_dedicated(
            session, user(session, by), domains, weekly_volume=volume, ip_count=ips
        ).subject.id


def decide(engine, request_id, decision, by="sam"):
    with session_scope(engine) as session:
        reviewer = user(session, by)
        if decision == "approve":
            return decisions.approve(session, reviewer, request_id)
        return decisions.deny(session, reviewer, request_id, reason="Not this time.")


@pytest.mark.parametrize("first", ["approve", "deny"])
@pytest.mark.parametrize("second", ["approve", "deny"])
def test_a_decided_request_cannot_be_decided_again(world, first, second):
    request_id = file_transactional(world)
    decide(world, request_id, first, by="tess")
    before = database_state(world)
    with pytest.raises(AlreadyDecided) as refused:
        decide(world, request_id, second, by="sam")
    status = "approved" if first == "approve" else "denied"
    assert refused.value.message == f"Request #{request_id} was already {status} by tess."
    assert database_state(world) == before


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_an_unknown_request_is_named(world, decision):
    with pytest.raises(NotFound, match="There is no request #999"):
        decide(world, 999, decision)


def test_queue_lists_oldest_first_and_filters(world, monkeypatch):
    move_clock("2026-11-26T08:00:00Z")
    first = file_transactional(world)
    move_clock("2026-11-26T08:30:00Z")
    second = file_dedicated(world, ["bolt.example"], by="bruno", ips=2)
    move_clock("2026-11-26T08:45:00Z")
    third = file_dedicated(world, ["corvid.example", "mail.corvid.example"], by="carla")
    decide(world, second, "deny")
    with Session(world) as session:
        sam = user(session, "sam")

        def ids(**filters):
            return [v.id for v in listing.list_requests(session, sam, **filters)]

        assert ids() == [first, second, third]
        assert ids(oldest_first=False) == [third, second, first]
        assert ids(status="pending") == [first, third]
        assert ids(status="denied") == [second]
        assert ids(status="approved") == []
        assert ids(kind="dedicated") == [second, third]
        assert ids(account_name="corvid") == [third]
        assert ids(domain_name="MAIL.corvid.example.") == [third]
        with pytest.raises(
            MailpoolsError, match="Unknown status 'open': use pending, approved or denied"
        ):
            ids(status="open")
        with pytest.raises(NotFound, match="no account named 'nobody'"):
            ids(account_name="nobody")
        with pytest.raises(NotFound, match="no sending domain named 'nowhere.example'"):
            ids(domain_name="nowhere.example")


def test_a_listing_shows_what_a_reviewer_needs(world):
    request_id = file_dedicated(world, ["news.acme.example", "acme.example"], ips=4, volume="120k")
    decide(world, request_id, "approve", by="root")
    with Session(world) as session:
        (view,) = listing.list_requests(session, user(session, "sam"))
    assert view.id == request_id
    assert (view.kind, view.status, view.account, view.plan) == (
        "dedicated",
        "approved",
        "acme",
        "premium",
    )
    assert view.domains == ["acme.example", "news.acme.example"]
    assert (view.requester, view.reviewer) == ("alice", "root")
    assert (view.expected_weekly_volume, view.ip_count, view.monthly_cost_cents) == (
        120_000,
        4,
        50_00,
    )
    assert view.dedicated_pool == "acme-dedicated-1"
    data = json.loads(json.dumps(view.as_json()))
    assert data["created_at"] == "2026-11-26T09:00:00+00:00"
    assert data["decided_at"] == "2026-11-26T09:00:00+00:00"
    assert data["domains"] == ["acme.example", "news.acme.example"]


def test_suggested_ips_are_the_first_free_ones(world):
    request_id = file_dedicated(world, ["acme.example"], ips=2)
    with Session(world) as session:
        request = listing.get_request(session, request_id)
        suggested = [ip.address for ip in allocation.suggest_ips(session, request)]
    assert suggested == ["127.0.0.20", "127.0.0.21"]
