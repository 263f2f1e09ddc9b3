import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from app.errors import AlreadyDecided, MailpoolsError, PermissionDenied
from app.services import pools
from app.services.requests.decisions import approve, deny
from app.services.requests.filing import request_dedicated, request_transactional
from app.services.triage import (
    account_names,
    check_decision,
    decision_context,
    filed_age,
    triage_queue,
)
from data.db import session_scope
from data.models import IpAddress, Pool, PoolRequest
from tests.database_state import database_state
from tests.factories import build_world, record_domain_day, user

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
JUSTIFICATION = (
    "Receipts, password resets and shipping updates for customers who bought from our shop."
)


def _file_transactional(engine, owner: str, domain: str, *, days_ago: int = 0) -> int:
    with session_scope(engine) as session:
        request = request_transactional(
            session, user(session, owner), domain, justification=JUSTIFICATION, confirmation=domain
        ).subject
        request.created_at = NOW - timedelta(days=days_ago)
        session.add(request)
        session.flush()
        return request.id


def _file_dedicated(
    engine, owner: str, domains: list[str], volume: int, *, days_ago: int = 0, ips: int = 1
) -> int:
    with session_scope(engine) as session:
        request = request_dedicated(
            session, user(session, owner), domains, weekly_volume=volume, ip_count=ips
        ).subject
        request.created_at = NOW - timedelta(days=days_ago)
        session.add(request)
        session.flush()
        return request.id


def test_queue_is_pending_requests_oldest_first_with_age_account_and_plan(engine):
    build_world(engine)
    newest = _file_transactional(engine, "alice", "acme.example", days_ago=0)
    oldest = _file_dedicated(engine, "bruno", ["offers.bolt.example"], 70_000, days_ago=3)
    middle = _file_dedicated(
        engine, "carla", ["corvid.example", "mail.corvid.example"], 120_000, days_ago=1
    )
    decided = _file_transactional(engine, "bruno", "bolt.example", days_ago=5)
    with session_scope(engine) as session:
        deny(session, user(session, "sam"), decided, reason="Campaign traffic seen last week.")
    with Session(engine) as session:
        queue = triage_queue(session, user(session, "tess"))
    assert [item.id for item in queue] == [oldest, middle, newest]
    first = queue[0]
    assert first.age == "filed 3 days ago"
    assert (first.request.account, first.request.plan) == ("bolt", "standard")
    assert first.request.expected_weekly_volume == 70_000
    assert first.asked == "1 dedicated IP"
    assert queue[1].request.domains == ["corvid.example", "mail.corvid.example"]
    assert queue[2].request.justification == JUSTIFICATION
    assert queue[2].asked == "transactional pool"


def test_queue_shows_measured_volume_and_rates_against_the_pools_thresholds(engine):
    build_world(engine)
    request_id = _file_dedicated(
        engine, "carla", ["corvid.example", "mail.corvid.example"], 120_000
    )
    record_domain_day(engine, "corvid.example", TODAY, sent=30_000, bounced=600, complaints=12)
    record_domain_day(
        engine, "mail.corvid.example", TODAY - timedelta(days=2), sent=19_000, bounced=400
    )
    record_domain_day(engine, "corvid.example", TODAY - timedelta(days=9), sent=99_999)
    with Session(engine) as session:
        [item] = triage_queue(session, user(session, "sam"))
    assert item.id == request_id
    assert item.measured_weekly_volume == 30_600 + 19_400
    health = {d.name: d for d in item.domains}
    corvid = health["corvid.example"]
    assert corvid.pool in ("shared-a", "shared-b")
    assert corvid.rates.bounce_rate == pytest.approx(600 / 30_600)
    assert corvid.rates.complaint_rate == pytest.approx(12 / 30_000)
    assert corvid.rates.thresholds.max_bounce_rate == 0.05
    assert corvid.rates.judged and not corvid.rates.over


def test_queue_shows_earlier_requests_and_decisions_for_the_same_domain(engine):
    build_world(engine)
    first = _file_transactional(engine, "alice", "acme.example", days_ago=10)
    with session_scope(engine) as session:
        deny(session, user(session, "tess"), first, reason="Tell us which messages you send.")
    pending = _file_transactional(engine, "alice", "acme.example")
    _file_transactional(engine, "alice", "billing.acme.example")
    with Session(engine) as session:
        queue = triage_queue(session, user(session, "sam"))
    item = next(i for i in queue if i.id == pending)
    assert [entry.text for entry in item.history] == [
        f"#{first} transactional request denied by tess: Tell us which messages you send."
    ]
    other = next(i for i in queue if i.id != pending)
    assert other.history == []


def test_filter_by_kind_and_account_and_search_by_domain(engine):
    build_world(engine)
    acme_transactional = _file_transactional(engine, "alice", "acme.example")
    acme_dedicated = _file_dedicated(engine, "alice", ["news.acme.example"], 60_000)
    bolt_dedicated = _file_dedicated(engine, "bruno", ["offers.bolt.example"], 60_000)
    with Session(engine) as session:
        sam = user(session, "sam")
        assert [i.id for i in triage_queue(session, sam, kind="dedicated")] == [
            acme_dedicated,
            bolt_dedicated,
        ]
        assert [i.id for i in triage_queue(session, sam, account="acme")] == [
            acme_transactional,
            acme_dedicated,
        ]
        assert [i.id for i in triage_queue(session, sam, kind="dedicated", account="bolt")] == [
            bolt_dedicated
        ]
        assert [i.id for i in triage_queue(session, sam, domain_search="NEWS.acme")] == [
            acme_dedicated
        ]
        assert [i.id for i in triage_queue(session, sam, domain_search="bolt")] == [bolt_dedicated]
        assert triage_queue(session, sam, domain_search="%") == []
        with pytest.raises(MailpoolsError, match="no account named 'zed'"):
            triage_queue(session, sam, account="zed")
        with pytest.raises(MailpoolsError, match="Unknown request kind"):
            triage_queue(session, sam, kind="shared")
        assert account_names(session, sam) == ["acme", "bolt", "corvid"]


def test_decision_context_suggests_free_ips_and_quotes_the_cost(engine):
    build_world(engine)
    standard = _file_dedicated(engine, "bruno", ["offers.bolt.example"], 60_000, ips=2)
    premium = _file_dedicated(engine, "alice", ["news.acme.example"], 60_000, ips=4)
    with Session(engine) as session:
        sam = user(session, "sam")
        bolt = decision_context(session, sam, standard)
        acme = decision_context(session, sam, premium)
    assert bolt.needs_ips
    assert bolt.suggested_ips == ["127.0.0.20", "127.0.0.21"]
    assert bolt.free_ips == [f"127.0.0.{n}" for n in range(20, 26)]
    assert bolt.monthly_cost_cents == 100_00
    assert "$100/month" in bolt.cost_text
    # Premium: three free, the fourth at $50.
    assert acme.monthly_cost_cents == 50_00
    assert acme.cost_text == "3 free on Premium, 1 × $50: $50/month"


def test_decision_context_of_a_transactional_request_needs_no_ips(sqlite_engine):
    build_world(sqlite_engine)
    request_id = _file_transactional(sqlite_engine, "alice", "acme.example")
    with Session(sqlite_engine) as session:
        context = decision_context(session, user(session, "sam"), request_id)
    assert not context.needs_ips
    assert context.free_ips == [] and context.monthly_cost_cents is None


def test_a_decided_request_leaves_the_queue(engine):
    build_world(engine)
    request_id = _file_dedicated(engine, "bruno", ["offers.bolt.example"], 60_000)
    with session_scope(engine) as session:
        approve(session, user(session, "sam"), request_id, ip_addresses=["127.0.0.22"])
    with Session(engine) as session:
        assert triage_queue(session, user(session, "sam")) == []
        context = decision_context(session, user(session, "tess"), request_id)
        assert session.get(PoolRequest, request_id).status == "approved"
    assert context.item.request.reviewer == "sam"
    assert context.suggested_ips == []


def test_owners_are_refused(sqlite_engine):
    build_world(sqlite_engine)
    request_id = _file_transactional(sqlite_engine, "alice", "acme.example")
    with Session(sqlite_engine) as session:
        alice = user(session, "alice")
        with pytest.raises(PermissionDenied):
            triage_queue(session, alice)
        with pytest.raises(PermissionDenied):
            decision_context(session, alice, request_id)
        with pytest.raises(PermissionDenied):
            account_names(session, alice)


def test_filed_age_reads_like_speech():
    assert filed_age(NOW - timedelta(minutes=5), NOW) == "filed 5 minutes ago"
    assert filed_age(NOW - timedelta(days=1, hours=2), NOW) == "filed a day ago"


def test_check_decision_asks_the_confirmation_and_changes_nothing(engine):
    build_world(engine)
    dedicated = _file_dedicated(engine, "bruno", ["offers.bolt.example"], 60_000, ips=2)
    transactional = _file_transactional(engine, "alice", "acme.example")
    with Session(engine) as session:
        sam = user(session, "sam")
        question = check_decision(
            session, sam, dedicated, approve=True, ip_addresses=["127.0.0.21", "127.0.0.24"]
        )
        assert question == (
            f"Approve request #{dedicated}? bolt gets 127.0.0.21, 127.0.0.24 "
            "(Standard plan, 2 × $50: $100/month); offers.bolt.example starts warming up on them."
        )
        with pytest.raises(MailpoolsError, match="Choose exactly 2 IPs") as wrong_count:
            check_decision(session, sam, dedicated, approve=True, ip_addresses=["127.0.0.21"])
        assert wrong_count.value.field == "ips"
        with pytest.raises(
            MailpoolsError, match="Not in the free dedicated inventory: 127.0.0.2\\."
        ):
            check_decision(
                session, sam, dedicated, approve=True, ip_addresses=["127.0.0.2", "127.0.0.21"]
            )
        with pytest.raises(MailpoolsError, match="needs a reason") as no_reason:
            check_decision(session, sam, transactional, approve=False, reason="   ")
        assert no_reason.value.field == "reason"
        assert "can no longer send campaigns" in check_decision(
            session, sam, transactional, approve=True
        )
        assert [i.id for i in triage_queue(session, sam)] == [dedicated, transactional]


def test_check_decision_refuses_what_the_approval_itself_would_refuse(engine):
    build_world(engine)
    first = _file_dedicated(engine, "alice", ["acme.example"], 60_000)
    with session_scope(engine) as session:
        approve(session, user(session, "sam"), first)
    with session_scope(engine) as session:
        group = session.exec(
            select(Pool.name).where(Pool.kind == "dedicated").where(Pool.account_id.is_not(None))
        ).one()
        join = request_dedicated(
            session,
            user(session, "alice"),
            ["billing.acme.example"],
            weekly_volume=60_000,
            join_pool=group,
        ).subject.id
    with session_scope(engine) as session:
        pools.remove_domain(
            session, user(session, "sam"), "billing.acme.example", reason="Bounces at 9%."
        )
    before = database_state(engine)
    with (
        Session(engine) as session,
        pytest.raises(MailpoolsError, match="billing.acme.example is removed from its pool"),
    ):
        check_decision(session, user(session, "sam"), join, approve=True)
    assert database_state(engine) == before


def test_check_decision_says_who_decided_first(sqlite_engine):
    build_world(sqlite_engine)
    request_id = _file_transactional(sqlite_engine, "alice", "acme.example")
    with session_scope(sqlite_engine) as session:
        deny(session, user(session, "tess"), request_id, reason="Tell us what you send.")
    with (
        Session(sqlite_engine) as session,
        pytest.raises(AlreadyDecided, match="already denied by tess"),
    ):
        check_decision(session, user(session, "sam"), request_id, approve=True)


def test_two_agents_approving_at_the_same_moment_one_wins_the_other_is_told_who(engine):
    build_world(engine)
    request_id = _file_dedicated(engine, "bruno", ["offers.bolt.example"], 60_000)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(agent: str) -> None:
        with Session(engine) as session:
            reviewer = user(session, agent)
        barrier.wait()
        try:
            with session_scope(engine) as session:
                approve(session, reviewer, request_id)
            outcomes[agent] = "won"
        except AlreadyDecided as refusal:
            outcomes[agent] = refusal.message

    threads = [threading.Thread(target=decide, args=(agent,)) for agent in ("sam", "tess")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    [winner] = [agent for agent, outcome in outcomes.items() if outcome == "won"]
    [loser] = [agent for agent in outcomes if agent != winner]
    assert outcomes[loser] == f"Request #{request_id} was already approved by {winner}."
    with Session(engine) as session:
        owned = session.exec(select(IpAddress).where(IpAddress.account_id.is_not(None))).all()
        assert len(owned) == 1
        assert session.get(PoolRequest, request_id).status == "approved"
