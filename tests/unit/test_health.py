"""Domain health: removal from the pool when rates over the window break its thresholds."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from sqlmodel import select

from app.services.health import check_domain_health
from app.services.stats import add_daily_counts
from data.db import session_scope
from data.models import AuditEvent, DomainDailyStat, DomainStatus, Notification
from tests.sending_world import domain, make_transactional, world

TODAY = date(2026, 11, 26)


@pytest.fixture
def sending_world(engine):
    return world(engine)


def traffic(engine, name: str, day: date, **counts) -> None:
    with session_scope(engine) as session:
        the_domain = domain(engine, name)
        add_daily_counts(
            session.connection(),
            DomainDailyStat.__table__,
            "domain_id",
            day,
            {the_domain.id: Counter(counts)},
        )


def test_a_domain_over_the_bounce_threshold_is_removed_audited_and_told(sending_world):
    engine = sending_world
    # 60 bounces of 1,000 is 6%, above the shared pools' 5%, spread over the 7-day window.
    traffic(engine, "offers.bolt.example", TODAY, sent=500, bounced=30)
    traffic(engine, "offers.bolt.example", TODAY - timedelta(days=6), sent=440, bounced=30)
    removed = check_domain_health(engine, TODAY)
    assert [verdict.domain for verdict in removed] == ["offers.bolt.example"]
    the_domain = domain(engine, "offers.bolt.example")
    assert the_domain.status == DomainStatus.REMOVED
    assert "bounce rate 6.00% is above the pool's 5.00%" in the_domain.removed_reason
    with session_scope(engine) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "domain.remove")).one()
        assert event.actor == "system" and event.domain_id == the_domain.id
        told = session.exec(select(Notification).where(Notification.kind == "domain_removed")).one()
        assert told.account_id == the_domain.account_id
    # Judged once: a second check finds nothing more to do.
    assert check_domain_health(engine, TODAY) == []


def test_days_outside_the_window_do_not_count(sending_world):
    engine = sending_world
    traffic(engine, "offers.bolt.example", TODAY - timedelta(days=7), sent=500, bounced=300)
    traffic(engine, "offers.bolt.example", TODAY, sent=600)
    assert check_domain_health(engine, TODAY) == []


def test_below_the_minimum_sample_nothing_is_judged(sending_world):
    engine = sending_world
    traffic(engine, "offers.bolt.example", TODAY, sent=300, bounced=150)
    assert check_domain_health(engine, TODAY) == []
    assert domain(engine, "offers.bolt.example").status == DomainStatus.ACTIVE


def test_complaints_count_against_sent_mail(sending_world):
    engine = sending_world
    # 4 complaints of 1,000 sent is 0.4%, above the shared pools' 0.3%.
    traffic(engine, "offers.bolt.example", TODAY, sent=1_000, complaints=4)
    [verdict] = check_domain_health(engine, TODAY)
    assert "complaint rate 0.40%" in verdict.reason


def test_the_transactional_pool_is_stricter_than_the_shared_pools(sending_world):
    engine = sending_world
    make_transactional(engine, "acme.example")
    # 3% bounces: fine in a shared pool (5%), too many in the transactional pool (2%).
    for name in ("acme.example", "offers.bolt.example"):
        traffic(engine, name, TODAY, sent=970, bounced=30)
    removed = check_domain_health(engine, TODAY)
    assert [verdict.domain for verdict in removed] == ["acme.example"]
    assert removed[0].pool == "transactional"
