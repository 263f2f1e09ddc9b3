"""The daily warm-up evaluation: advance, hold on bad days, complete; and what people see."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from sqlmodel import select

from app import clock
from app.errors import MailpoolsError, NotFound
from app.rules.warmup_plan import dedicated_share, planned_days
from app.services.stats import add_daily_counts
from app.services.warmups import evaluate_warmups, pause_warmup, warmup_status
from data.db import session_scope
from data.models import (
    AuditEvent,
    IpAddress,
    IpDailyStat,
    IpState,
    Notification,
    WarmupHold,
    WarmupState,
)
from tests.clock_moves import move_clock
from tests.factories import user
from tests.sending_world import make_dedicated, set_warmup, warmup_of, world

START = date(2026, 11, 26)


@pytest.fixture
def warming(engine):
    world(engine)
    pool = make_dedicated(engine, ["news.acme.example"], volume=50_000, ips=["127.0.0.20"])
    return engine, pool


def stand_on(day: date) -> None:
    move_clock(f"{day.isoformat()}T09:00:00")


def dedicated_traffic(
    engine, day: date, *, sent: int, bounced: int = 0, complaints: int = 0
) -> None:
    with session_scope(engine) as session:
        ip = session.exec(select(IpAddress).where(IpAddress.address == "127.0.0.20")).one()
        counts = Counter(sent=sent, bounced=bounced, complaints=complaints)
        add_daily_counts(session.connection(), IpDailyStat.__table__, "ip_id", day, {ip.id: counts})


def test_each_clean_day_advances_the_plan_once(warming, monkeypatch):
    engine, pool = warming
    dedicated_traffic(engine, START, sent=140)
    stand_on(START + timedelta(days=1))
    assert evaluate_warmups(engine) == 0
    assert evaluate_warmups(engine) == 0  # judged already: no second advance
    warmup = warmup_of(engine, pool)
    assert (warmup.current_day, warmup.held_days, warmup.evaluated_through) == (2, 0, START)


def test_a_day_over_the_thresholds_is_held_with_the_reason(warming, monkeypatch):
    engine, pool = warming
    # 10 bounces of 140 is 7.1%, above the 5% of the pool the IPs came from.
    dedicated_traffic(engine, START, sent=130, bounced=10)
    dedicated_traffic(engine, START + timedelta(days=1), sent=150)
    dedicated_traffic(engine, START + timedelta(days=2), sent=160, complaints=2)
    stand_on(START + timedelta(days=3))
    assert evaluate_warmups(engine) == 2
    warmup = warmup_of(engine, pool)
    assert (warmup.current_day, warmup.held_days) == (2, 2)
    with session_scope(engine) as session:
        holds = session.exec(select(WarmupHold).order_by(WarmupHold.day)).all()
        assert [hold.day for hold in holds] == [START, START + timedelta(days=2)]
        assert "bounce rate 7.14% is above 5.00%" in holds[0].reason
        assert "complaint rate" in holds[1].reason
        titles = [
            n.title
            for n in session.exec(select(Notification).where(Notification.kind == "warmup_held"))
        ]
        assert len(titles) == 2 and "did not advance" in titles[0]
        actors = {
            e.actor
            for e in session.exec(select(AuditEvent).where(AuditEvent.action == "warmup.hold"))
        }
        assert actors == {"system"}


def test_held_days_make_a_warmup_run_past_its_planned_length(warming, monkeypatch):
    engine, pool = warming
    assert planned_days(50_000) == 45
    dedicated_traffic(engine, START + timedelta(days=10), sent=100, bounced=50)
    stand_on(START + timedelta(days=45))
    evaluate_warmups(engine)
    warmup = warmup_of(engine, pool)
    assert warmup.state == WarmupState.RUNNING
    assert (warmup.current_day, warmup.held_days) == (45, 1)
    stand_on(START + timedelta(days=46))
    evaluate_warmups(engine)
    assert warmup_of(engine, pool).state == WarmupState.COMPLETE


def test_completion_activates_the_ips_and_tells_the_owner(warming, monkeypatch):
    engine, pool = warming
    set_warmup(engine, pool, current_day=45, evaluated_through=START - timedelta(days=1))
    stand_on(START + timedelta(days=1))
    evaluate_warmups(engine)
    warmup = warmup_of(engine, pool)
    assert warmup.state == WarmupState.COMPLETE and warmup.completed_at == clock.now()
    with session_scope(engine) as session:
        ip = session.exec(select(IpAddress).where(IpAddress.address == "127.0.0.20")).one()
        assert ip.state == IpState.ACTIVE
        ready = session.exec(
            select(Notification).where(Notification.kind == "warmup_complete")
        ).one()
        assert ready.title == "Your dedicated IP is ready"
        assert (
            session.exec(select(AuditEvent).where(AuditEvent.action == "warmup.complete"))
            .one()
            .actor
            == "system"
        )


def test_a_paused_warmup_does_not_advance(warming, monkeypatch):
    engine, pool = warming
    with session_scope(engine) as session:
        pause_warmup(session, user(session, "sam"), "news.acme.example")
    stand_on(START + timedelta(days=5))
    evaluate_warmups(engine)
    assert warmup_of(engine, pool).current_day == 1


def test_status_shows_the_plan_today_held_days_and_expected_completion(warming, monkeypatch):
    engine, pool = warming
    dedicated_traffic(engine, START + timedelta(days=1), sent=100, bounced=30)
    stand_on(START + timedelta(days=3))
    evaluate_warmups(engine)
    with session_scope(engine) as session:
        status = warmup_status(session, user(session, "alice"), "news.acme.example")
    assert (status.current_day, status.planned_days) == (3, 45)
    assert status.shares[0] == pytest.approx(0.02) and status.shares[-1] == 1.0
    assert status.shares == sorted(status.shares)
    assert status.today_share == pytest.approx(dedicated_share(3, 45))
    assert [held.day for held in status.held] == [START + timedelta(days=1)]
    assert status.expected_completion == START + timedelta(days=3 + 43)
    as_json = status.as_json()
    assert len(as_json["plan"]) == 45 and as_json["held_days"][0]["reason"]


def test_status_is_for_the_account_and_needs_dedicated_ips(warming):
    engine, _ = warming
    with session_scope(engine) as session:
        with pytest.raises(NotFound, match="no sending domain named 'news.acme.example'"):
            warmup_status(session, user(session, "bruno"), "news.acme.example")
        with pytest.raises(MailpoolsError, match="no dedicated IPs"):
            warmup_status(session, user(session, "alice"), "acme.example")
