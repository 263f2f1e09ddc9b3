"""Volumes and rates read from the daily stats, over a window of days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session

from app.rules.rates import Rates
from app.services import stats
from app.services.lookups import get_domain
from data.db import session_scope
from data.models import DomainDailyStat
from tests.factories import build_world

TODAY = date(2026, 11, 26)


@pytest.fixture
def world(engine):
    build_world(engine)
    return engine


def record(engine, domain, day, **counts):
    with session_scope(engine) as session:
        session.add(DomainDailyStat(domain_id=get_domain(session, domain).id, day=day, **counts))


def ids(engine, *names):
    with Session(engine) as session:
        return [get_domain(session, name).id for name in names]


def test_window_start():
    assert stats.window_start(TODAY, 1) == TODAY
    assert stats.window_start(TODAY, 7) == date(2026, 11, 20)


def test_rates_sum_the_window_and_nothing_outside_it(world):
    for offset in range(10):
        record(
            world, "acme.example", TODAY - timedelta(days=offset), sent=100, bounced=2, complaints=1
        )
    record(world, "acme.example", TODAY + timedelta(days=1), sent=10_000, bounced=10_000)
    record(world, "bolt.example", TODAY, sent=50, bounced=50, campaign_sent=40, broadcast_sent=5)
    acme, bolt, corvid = ids(world, "acme.example", "bolt.example", "corvid.example")
    with Session(world) as session:
        rates = stats.domain_rates(session, [acme, bolt, corvid], TODAY, days=7)
    assert set(rates) == {acme, bolt}  # no history, no entry
    assert rates[acme] == Rates(sent=700, bounced=14, complaints=7)
    assert rates[acme].bounce_rate == pytest.approx(14 / 714)
    assert rates[acme].complaint_rate == pytest.approx(7 / 700)
    assert rates[bolt].bounce_rate == 0.5
    assert (rates[bolt].campaign_sent, rates[bolt].broadcast_sent) == (40, 5)


def test_combined_and_weekly_volume(world):
    record(world, "acme.example", TODAY, sent=30_000, bounced=1_000)
    record(world, "news.acme.example", TODAY - timedelta(days=6), sent=20_000)
    record(world, "news.acme.example", TODAY - timedelta(days=7), sent=99_999)
    domain_ids = ids(world, "acme.example", "news.acme.example")
    with Session(world) as session:
        combined = stats.combined_rates(session, domain_ids, TODAY)
        assert (combined.sent, combined.bounced) == (50_000, 1_000)
        assert stats.weekly_volume(session, domain_ids, TODAY) == 51_000
        assert stats.weekly_volume(session, [], TODAY) == 0
        assert stats.domain_rates(session, [], TODAY) == {}


def test_no_traffic_means_zero_rates_not_an_error():
    assert Rates().bounce_rate == 0.0
    assert Rates().complaint_rate == 0.0


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=10**9),
)
def test_rates_are_fractions(sent, bounced, complaints):
    rates = Rates(sent=sent, bounced=bounced, complaints=min(complaints, sent))
    assert 0.0 <= rates.bounce_rate <= 1.0
    assert 0.0 <= rates.complaint_rate <= 1.0


def test_counts_add_to_the_days_row_or_create_it(world):
    (acme,) = ids(world, "acme.example")
    with session_scope(world) as session:
        stats.add_domain_counts(session, acme, TODAY, rejected=2)
        stats.add_domain_counts(session, acme, TODAY, rejected=3, sent=10)
        stats.add_domain_counts(session, acme, TODAY, rejected=0)
    with session_scope(world) as session:
        stats.add_domain_counts(session, acme, TODAY - timedelta(days=1), bounced=1)
    with Session(world) as session:
        today = session.get(DomainDailyStat, (acme, TODAY, 0))
        assert (today.rejected, today.sent, today.bounced) == (5, 10, 0)
        assert session.get(DomainDailyStat, (acme, TODAY - timedelta(days=1), 0)).bounced == 1
