"""Two people acting on the same thing at the same moment, from two threads with their own engines.

On PostgreSQL both transactions are already open and have read the request
before either writes (the barrier sits inside them), which is the race that
row locks and the conditional update must settle. SQLite runs one write
transaction at a time, so there the threads meet at the barrier just before
beginning theirs and the second queues on the busy timeout.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, select

from app.errors import AlreadyDecided, MailpoolsError
from app.services import pools
from app.services.inventory import apply_inventory, load_file, parse
from app.services.lookups import get_account, get_domain
from app.services.requests import decisions, filing, listing
from data.db import make_engine, session_scope
from data.models import AuditEvent, Domain, IpAddress, Notification, PoolRequest, RequestDomain
from tests.factories import DEMO_INVENTORY, build_world, user

JUSTIFICATION = "Password resets and order receipts for customers who bought from our shop."
ROUNDS = 3
BARRIER_TIMEOUT = 60


@pytest.fixture
def world(engine):
    build_world(engine)
    return engine


def run_together(url: str, actions: list[tuple[str, Callable]]) -> list[object]:
    """Run each (user, action(session, actor)) in its own thread, engine and transaction.

    Returns what each returned, or the MailpoolsError it raised.
    """
    barrier = threading.Barrier(len(actions), timeout=BARRIER_TIMEOUT)
    inside = not url.startswith("sqlite")

    def attempt(name: str, action: Callable) -> object:
        engine = make_engine(url)
        try:
            if not inside:
                barrier.wait()
            with session_scope(engine) as session:
                actor = user(session, name)
                if inside:
                    barrier.wait()
                return action(session, actor)
        except MailpoolsError as error:
            return error
        finally:
            engine.dispose()

    with ThreadPoolExecutor(max_workers=len(actions)) as pool:
        futures = [pool.submit(attempt, name, action) for name, action in actions]
        return [future.result() for future in futures]


def file_transactional(engine, domain="acme.example") -> int:
    with session_scope(engine) as session:
        return filing.request_transactional(
            session,
            user(session, "alice"),
            domain,
            justification=JUSTIFICATION,
            confirmation=domain,
        ).subject.id


def file_dedicated(engine, domains, by="alice", ips=1) -> int:
    with session_scope(engine) as session:
        return filing.request_dedicated(
            session, user(session, by), domains, weekly_volume=80_000, ip_count=ips
        ).subject.id


def approving(request_id):
    def action(session, actor):
        listing.get_request(session, request_id)
        return decisions.approve(session, actor, request_id).subject.status

    return action


def denying(request_id):
    def action(session, actor):
        listing.get_request(session, request_id)
        return decisions.deny(
            session, actor, request_id, reason="Volume history too short."
        ).subject.status

    return action


DECISIONS = {"approve": approving, "deny": denying}


def add_domain(engine, name: str) -> None:
    with session_scope(engine) as session:
        entries = {"domains": [{"name": name, "account": "acme", "transactional_service": True}]}
        apply_inventory(session, None, parse(entries, "test"))


@pytest.mark.parametrize("kind", ["transactional", "dedicated"])
@pytest.mark.parametrize(
    ("first", "second"), [("approve", "approve"), ("approve", "deny"), ("deny", "deny")]
)
def test_exactly_one_of_two_reviewers_decides(world, database_url, kind, first, second):
    for round_number in range(ROUNDS):
        domain = f"round{round_number}.acme.example"
        add_domain(world, domain)
        if kind == "transactional":
            request_id = file_transactional(world, domain)
        else:
            request_id = file_dedicated(world, [domain])
        results = run_together(
            database_url,
            [("sam", DECISIONS[first](request_id)), ("tess", DECISIONS[second](request_id))],
        )
        winners = [r for r in results if not isinstance(r, MailpoolsError)]
        losers = [r for r in results if isinstance(r, MailpoolsError)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert isinstance(losers[0], AlreadyDecided), losers[0]
        status = winners[0]
        winner = "sam" if results[0] == status else "tess"
        assert losers[0].message == f"Request #{request_id} was already {status} by {winner}."
        with Session(world) as session:
            request = session.get(PoolRequest, request_id)
            assert (request.status, request.reviewer_id) == (status, user(session, winner).id)
            decided = session.exec(
                select(AuditEvent)
                .where(AuditEvent.entity == "request")
                .where(AuditEvent.entity_id == str(request_id))
                .where(AuditEvent.action.not_like("%.file"))
            ).all()
            assert [event.actor for event in decided] == [winner]
            told = session.exec(
                select(Notification).where(Notification.title.contains(domain))
            ).all()
            assert len(told) == 1
            if status == "approved":
                assert get_domain(session, domain).sending_mode == kind


def test_two_approvals_at_once_never_share_an_ip(world, database_url):
    """Six free IPs: two requests for three each both get their own three."""
    first = file_dedicated(world, ["acme.example"], ips=3)
    second = file_dedicated(world, ["bolt.example"], by="bruno", ips=3)
    results = run_together(database_url, [("sam", approving(first)), ("tess", approving(second))])
    assert results == ["approved", "approved"]
    with Session(world) as session:
        owners = [ip.account_id for ip in session.exec(select(IpAddress).order_by(IpAddress.id))]
        acme, bolt = get_account(session, "acme").id, get_account(session, "bolt").id
    assert owners.count(acme) == 3 and owners.count(bolt) == 3


def test_two_approvals_at_once_for_more_than_is_free(world, database_url):
    """Six free IPs: of two requests for four, one is approved and the other is told why not."""
    first = file_dedicated(world, ["acme.example"], ips=4)
    second = file_dedicated(world, ["bolt.example"], by="bruno", ips=4)
    results = run_together(database_url, [("sam", approving(first)), ("tess", approving(second))])
    assert "approved" in results
    loser = second if results.index("approved") == 0 else first
    refusal = results[1 - results.index("approved")]
    assert str(refusal) == (
        f"Only 2 free dedicated IPs are left and request #{loser} needs 4: "
        "add IPs to the inventory first."
    )
    with Session(world) as session:
        statuses = sorted(session.get(PoolRequest, r).status for r in (first, second))
        owned = session.exec(select(IpAddress).where(IpAddress.account_id.is_not(None))).all()
    assert statuses == ["approved", "pending"]
    assert len(owned) == 4


def test_two_approvals_at_once_for_one_premium_account_share_three_free_ips(world, database_url):
    first = file_dedicated(world, ["acme.example"], ips=2)
    second = file_dedicated(world, ["news.acme.example"], ips=2)
    results = run_together(database_url, [("sam", approving(first)), ("tess", approving(second))])
    assert results == ["approved", "approved"]
    with Session(world) as session:
        billed = sum(session.get(PoolRequest, r).monthly_cost_cents for r in (first, second))
    assert billed == 50_00  # four IPs, three of them free


def test_two_people_filing_for_one_domain_at_once_make_one_request(world, database_url):
    def file_one(session, actor):
        get_domain(session, "acme.example")
        return filing.request_transactional(
            session,
            actor,
            "acme.example",
            justification=JUSTIFICATION,
            confirmation="acme.example",
        ).subject.id

    for _ in range(ROUNDS):
        results = run_together(database_url, [("alice", file_one), ("sam", file_one)])
        filed = [r for r in results if not isinstance(r, MailpoolsError)]
        refused = [r for r in results if isinstance(r, MailpoolsError)]
        assert len(filed) == 1 and len(refused) == 1, results
        assert f"already has an open transactional request (#{filed[0]})" in refused[0].message
        with session_scope(world) as session:
            domain = get_domain(session, "acme.example")
            open_requests = session.exec(
                select(PoolRequest)
                .join(RequestDomain, RequestDomain.request_id == PoolRequest.id)
                .where(RequestDomain.domain_id == domain.id)
                .where(PoolRequest.status == "pending")
            ).all()
            assert [r.id for r in open_requests] == filed
            decisions.deny(session, user(session, "tess"), filed[0], reason="Try again later.")


def test_filings_naming_the_same_domains_in_another_order_do_not_deadlock(world, database_url):
    def filer(names):
        def action(session, actor):
            for name in names:
                get_domain(session, name)
            return filing.request_dedicated(
                session, actor, names, weekly_volume=80_000, ip_count=1
            ).subject.id

        return action

    forward = ["acme.example", "news.acme.example", "billing.acme.example"]
    for _ in range(ROUNDS):
        results = run_together(
            database_url, [("alice", filer(forward)), ("sam", filer(forward[::-1]))]
        )
        filed = [r for r in results if not isinstance(r, MailpoolsError)]
        refused = [r for r in results if isinstance(r, MailpoolsError)]
        assert len(filed) == 1 and len(refused) == 1, results
        assert f"already has an open dedicated request (#{filed[0]})" in refused[0].message
        with session_scope(world) as session:
            decisions.deny(session, user(session, "tess"), filed[0], reason="Try again later.")


def test_two_agents_removing_or_reinstating_one_domain_at_once(world, database_url):
    def removing(session, actor):
        get_domain(session, "offers.bolt.example")
        return pools.remove_domain(
            session, actor, "offers.bolt.example", reason="Bounce rate too high."
        ).subject.status

    def reinstating(session, actor):
        get_domain(session, "offers.bolt.example")
        return pools.reinstate_domain(session, actor, "offers.bolt.example").subject.status

    for _ in range(ROUNDS):
        results = run_together(database_url, [("sam", removing), ("tess", removing)])
        assert sorted(map(str, results)) == [
            "offers.bolt.example is already removed from its pool.",
            "removed",
        ]
        results = run_together(database_url, [("sam", reinstating), ("tess", reinstating)])
        assert sorted(map(str, results)) == [
            "active",
            "offers.bolt.example is not removed from its pool; nothing to reinstate.",
        ]
    with Session(world) as session:
        actions = Counter(
            e.action for e in session.exec(select(AuditEvent)) if e.action.startswith("domain.")
        )
        told = Counter(n.kind for n in session.exec(select(Notification)))
    assert actions == {"domain.remove": ROUNDS, "domain.reinstate": ROUNDS}
    assert told == {"domain_removed": ROUNDS, "domain_reinstated": ROUNDS}


def test_two_inventory_applies_at_once_both_succeed(database_url):
    """On an empty database: the second apply waits for the first and finds nothing to create."""
    sections = load_file(DEMO_INVENTORY)

    def applying(session, actor):
        return apply_inventory(session, None, sections)

    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            apply_inventory(
                session, None, parse({"users": [{"name": "sam", "role": "agent"}]}, "t")
            )
        reports = run_together(database_url, [("sam", applying), ("sam", applying)])
        assert not any(isinstance(r, MailpoolsError) for r in reports), reports
        created = sorted(len(report.created) for report in reports)
        entries = sum(len(found) for found in sections.values())
        assert created == [0, entries - 1]  # everything but sam, who was there
        with Session(engine) as session:
            assert len(session.exec(select(Domain)).all()) == 7
    finally:
        engine.dispose()
