"""Any sequence of filings and decisions, by anyone, keeps the rules true.

Hypothesis picks who files what for which domains and who decides which
request how; after every step the database must satisfy the invariants, and a
refused step must have changed nothing at all.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from app.errors import MailpoolsError
from app.rules.policy import DEDICATED_IP_MONTHLY_CENTS, PREMIUM_FREE_DEDICATED_IPS
from app.services.requests import decisions, filing
from data.db import make_engine, session_scope
from data.models import (
    Account,
    AuditEvent,
    Domain,
    IpAddress,
    Pool,
    PoolRequest,
    RequestDomain,
    Warmup,
)
from tests.conftest import ReusedDatabases, postgres_database
from tests.database_state import database_state
from tests.factories import build_world, user

DOMAINS = {
    "acme.example": "alice",
    "news.acme.example": "alice",
    "billing.acme.example": "alice",
    "bolt.example": "bruno",
    "offers.bolt.example": "bruno",
    "corvid.example": "carla",
    "mail.corvid.example": "carla",
}
GOOD_JUSTIFICATION = "Password resets and order receipts for customers who bought from our shop."
# Repeats weight the draw towards steps that succeed, so sequences get far.
FILERS = st.sampled_from(["owner", "owner", "owner", "sam", "root", "bruno"])
REVIEWERS = st.sampled_from(["sam", "tess", "root", "sam", "tess", "alice"])

TRANSACTIONAL = st.tuples(
    st.just("transactional"),
    FILERS,
    st.sampled_from(sorted(DOMAINS)),
    st.sampled_from([GOOD_JUSTIFICATION] * 3 + ["please approve thanks ok yes"]),
    st.sampled_from([True, True, True, False]),  # confirms with the right name
)
DEDICATED = st.tuples(
    st.just("dedicated"),
    FILERS,
    st.lists(st.sampled_from(sorted(DOMAINS)), min_size=1, max_size=3),
    st.sampled_from([40_000, 50_000, 200_000, 200_000]),
    st.sampled_from([0, 1, 1, 2, 2, 3, 4]),
)
DECISION = st.tuples(
    st.sampled_from(["approve", "deny"]),
    REVIEWERS,
    st.integers(min_value=0, max_value=20),  # which filed request, modulo how many there are
)
STEPS = st.lists(st.one_of(TRANSACTIONAL, DEDICATED, DECISION, DECISION), min_size=1, max_size=16)
SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def run_step(engine, step, filed: list[int]) -> object:
    kind = step[0]
    name = step[1]
    if name == "owner":
        first_domain = step[2] if kind == "transactional" else step[2][0]
        name = DOMAINS[first_domain]
    with session_scope(engine) as session:
        actor = user(session, name)
        if kind == "transactional":
            _, _, domain, justification, confirms = step
            return filing.request_transactional(
                session,
                actor,
                domain,
                justification=justification,
                confirmation=domain if confirms else "someone-else.example",
            ).subject.id
        if kind == "dedicated":
            _, _, domains, volume, ips = step
            return filing.request_dedicated(
                session, actor, domains, weekly_volume=volume, ip_count=ips
            ).subject.id
        if not filed:
            raise MailpoolsError("nothing filed yet")
        request_id = filed[step[2] % len(filed)]
        if kind == "approve":
            return decisions.approve(session, actor, request_id).subject.status
        return decisions.deny(session, actor, request_id, reason="Not this time.").subject.status


def check_invariants(engine, successes: Counter) -> None:
    with Session(engine) as session:
        requests = session.exec(select(PoolRequest)).all()
        links = session.exec(select(RequestDomain)).all()
        by_request = {r.id: r for r in requests}
        pending_per_domain = Counter(
            link.domain_id for link in links if by_request[link.request_id].status == "pending"
        )
        assert all(count == 1 for count in pending_per_domain.values())

        for request in requests:
            if request.status != "pending":
                assert request.reviewer_id is not None
                assert request.reviewer_id != request.requester_id
            domain_accounts = {
                session.get(Domain, link.domain_id).account_id
                for link in links
                if link.request_id == request.id
            }
            assert domain_accounts == {request.account_id}
            if request.kind == "dedicated":
                assert request.expected_weekly_volume >= 50_000
                assert 1 <= request.ip_count <= 10

        for domain in session.exec(select(Domain)):
            if domain.sending_mode == "transactional":
                assert domain.transactional_service
                assert domain.transactional_pool_id is not None
                assert domain.dedicated_pool_id is None
            if domain.sending_mode == "dedicated":
                pool = session.get(Pool, domain.dedicated_pool_id)
                assert (pool.kind, pool.account_id) == ("dedicated", domain.account_id)

        for ip in session.exec(select(IpAddress).where(IpAddress.account_id.is_not(None))):
            pool = session.get(Pool, ip.pool_id)
            assert pool.account_id == ip.account_id

        for account in session.exec(select(Account)):
            owned = len(
                session.exec(select(IpAddress).where(IpAddress.account_id == account.id)).all()
            )
            approved = [
                r
                for r in requests
                if r.account_id == account.id and r.kind == "dedicated" and r.status == "approved"
            ]
            assert owned == sum(r.ip_count for r in approved)
            allowance = PREMIUM_FREE_DEDICATED_IPS if account.plan == "premium" else 0
            billed = sum(r.monthly_cost_cents for r in approved)
            assert billed == DEDICATED_IP_MONTHLY_CENTS * (owned - min(owned, allowance))
            groups = session.exec(select(Pool).where(Pool.account_id == account.id)).all()
            assert len(groups) == len(approved)
            assert len(
                session.exec(select(Warmup).where(Warmup.account_id == account.id)).all()
            ) == len(approved)

        actions = Counter(
            event.action.rsplit(".", 1)[1]
            for event in session.exec(select(AuditEvent))
            if event.action.startswith("request.")
        )
        assert actions == +successes


def run_sequence(engine, steps) -> None:
    build_world(engine)
    filed: list[int] = []
    successes: Counter = Counter()
    for step in steps:
        before = database_state(engine)
        try:
            result = run_step(engine, step, filed)
        except MailpoolsError as refusal:
            assert refusal.message
            assert database_state(engine) == before, step
        else:
            if step[0] in ("transactional", "dedicated"):
                filed.append(result)
                successes["file"] += 1
            else:
                successes[step[0]] += 1
        check_invariants(engine, successes)


@contextmanager
def fresh_sqlite(template: Path):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "mailpools.db"
        shutil.copyfile(template, path)
        engine = make_engine(f"sqlite:///{path}")
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def fresh_postgres(databases: ReusedDatabases):
    with postgres_database(databases) as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@SETTINGS
@given(steps=STEPS)
def test_any_sequence_keeps_the_rules_on_sqlite(sqlite_template, steps):
    with fresh_sqlite(sqlite_template) as engine:
        run_sequence(engine, steps)


@SETTINGS
@given(steps=STEPS)
def test_any_sequence_keeps_the_rules_on_postgresql(reused_databases, steps):
    with fresh_postgres(reused_databases) as engine:
        run_sequence(engine, steps)
