from datetime import date, timedelta

import pytest
from sqlmodel import Session, select

from app.errors import MailpoolsError, PermissionDenied
from app.services.pools import (
    check_ip_weight,
    check_pause_ip,
    check_reinstatement,
    check_removal,
    list_ips,
    list_pools,
    pause_ip,
    reinstate_domain,
    remove_domain,
    resume_ip,
    set_ip_weight,
)
from app.services.requests.decisions import approve
from app.services.requests.filing import request_dedicated
from app.services.warmups import list_warmups, pause_warmup, resume_warmup
from data.db import session_scope
from data.models import AuditEvent, IpAddress, IpDailyStat, IpState, Notification, Warmup
from tests.factories import build_world, record_domain_day, user

TODAY = date(2026, 11, 26)


def _ip(engine, address: str) -> IpAddress:
    with Session(engine) as session:
        return session.exec(select(IpAddress).where(IpAddress.address == address)).one()


def _events(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def test_pools_list_shows_ips_members_thresholds_and_todays_rates(engine):
    build_world(engine)
    with session_scope(engine) as session:
        ip = session.exec(select(IpAddress).where(IpAddress.address == "127.0.0.3")).one()
        session.add(IpDailyStat(ip_id=ip.id, day=TODAY, sent=380, bounced=20, complaints=1))
        session.add(IpDailyStat(ip_id=ip.id, day=date(2026, 11, 25), sent=9999, bounced=999))
    with Session(engine) as session:
        pools = list_pools(session, user(session, "sam"))
    by_name = {pool.name: pool for pool in pools}
    assert [p.name for p in pools] == ["shared-a", "shared-b", "transactional"]
    shared_a = by_name["shared-a"]
    assert [ip.address for ip in shared_a.ips] == ["127.0.0.2", "127.0.0.3"]
    assert [ip.weight for ip in shared_a.ips] == [1, 2]
    # Only today's IP stats count: 380 sent (accepted) + 20 bounced.
    assert (shared_a.today.sent, shared_a.today.volume) == (380, 400)
    assert shared_a.today.bounce_rate == pytest.approx(20 / 400)
    assert shared_a.thresholds.max_bounce_rate == 0.05
    members = {d.name for p in pools for d in p.domains}
    assert len(members) == 7
    assert by_name["transactional"].domains == []


def test_member_rates_use_the_pools_window(engine):
    build_world(engine)
    record_domain_day(engine, "news.acme.example", TODAY, sent=900, bounced=100)
    record_domain_day(engine, "news.acme.example", date(2026, 11, 1), sent=5000)
    with Session(engine) as session:
        pools = list_pools(session, user(session, "tess"))
    member = next(d for p in pools for d in p.domains if d.name == "news.acme.example")
    assert (member.rates.sent, member.rates.volume) == (900, 1000)
    assert member.rates.bounce_rate == pytest.approx(0.1)
    assert member.rates.over


def test_ips_list_includes_free_inventory_and_filters_by_pool(engine):
    build_world(engine)
    with Session(engine) as session:
        sam = user(session, "sam")
        everything = list_ips(session, sam)
        shared_b = list_ips(session, sam, pool_name="shared-b")
        with pytest.raises(MailpoolsError, match="no pool named 'nope'"):
            list_ips(session, sam, pool_name="nope")
    assert len(everything) == 12
    assert [ip.pool for ip in everything if ip.address == "127.0.0.20"] == [None]
    assert [ip.address for ip in shared_b] == ["127.0.0.4", "127.0.0.5"]


def test_pause_and_resume_an_ip_is_audited(engine):
    build_world(engine)
    with session_scope(engine) as session:
        pause_ip(session, user(session, "sam"), "127.0.0.2")
    assert _ip(engine, "127.0.0.2").state == IpState.PAUSED
    [event] = _events(engine, "ip.pause")
    assert (event.actor, event.entity_id) == ("sam", "127.0.0.2")
    assert '"active"' in event.before and '"paused"' in event.after
    with session_scope(engine) as session, pytest.raises(MailpoolsError, match="already paused"):
        pause_ip(session, user(session, "sam"), "127.0.0.2")
    with session_scope(engine) as session:
        resume_ip(session, user(session, "tess"), "127.0.0.2")
    assert _ip(engine, "127.0.0.2").state == IpState.ACTIVE
    assert [e.actor for e in _events(engine, "ip.resume")] == ["tess"]
    with session_scope(engine) as session, pytest.raises(MailpoolsError, match="not paused"):
        resume_ip(session, user(session, "tess"), "127.0.0.2")


def test_pausing_the_last_sending_ip_of_a_shared_pool_is_refused(engine):
    build_world(engine)
    with session_scope(engine) as session:
        pause_ip(session, user(session, "sam"), "127.0.0.4")
    with (
        session_scope(engine) as session,
        pytest.raises(MailpoolsError, match="no IP to send from"),
    ):
        pause_ip(session, user(session, "sam"), "127.0.0.5")
    with (
        session_scope(engine) as session,
        pytest.raises(MailpoolsError, match="no IP to send from"),
    ):
        set_ip_weight(session, user(session, "sam"), "127.0.0.5", 0)
    assert _ip(engine, "127.0.0.5").state == IpState.ACTIVE
    assert _ip(engine, "127.0.0.5").weight == 1


def test_resuming_an_ip_of_a_warming_group_returns_it_to_warming(engine):
    build_world(engine)
    with session_scope(engine) as session:
        request = request_dedicated(
            session, user(session, "alice"), ["news.acme.example"], weekly_volume=80_000
        ).subject
        request_id = request.id
    with session_scope(engine) as session:
        approve(session, user(session, "sam"), request_id)
    with session_scope(engine) as session:
        pause_ip(session, user(session, "sam"), "127.0.0.20")
    with session_scope(engine) as session:
        resume_ip(session, user(session, "sam"), "127.0.0.20")
    assert _ip(engine, "127.0.0.20").state == IpState.WARMING


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        ("-1", "whole number from 0 to 100, not '-1'"),
        (" ", "Enter a weight"),
        ("٣", "whole number"),
        (" 5 ", "whole number"),
        ("101", "out of range"),
        ("heavy", "whole number"),
        ("2.5", "whole number"),
    ],
)
def test_weight_must_be_a_whole_number_in_range(sqlite_engine, weight, message):
    build_world(sqlite_engine)
    with (
        session_scope(sqlite_engine) as session,
        pytest.raises(MailpoolsError, match=message) as caught,
    ):
        set_ip_weight(session, user(session, "sam"), "127.0.0.2", weight)
    assert caught.value.field == "weight"
    assert _ip(sqlite_engine, "127.0.0.2").weight == 1
    assert _events(sqlite_engine, "ip.weight") == []


def test_weight_change_is_saved_and_audited(engine):
    build_world(engine)
    with session_scope(engine) as session:
        set_ip_weight(session, user(session, "root"), "127.0.0.2", "5")
    assert _ip(engine, "127.0.0.2").weight == 5
    [event] = _events(engine, "ip.weight")
    assert event.actor == "root"
    assert '"weight": 1' in event.before and '"weight": 5' in event.after


def test_unknown_ip_is_named_in_the_refusal(sqlite_engine):
    build_world(sqlite_engine)
    with session_scope(sqlite_engine) as session, pytest.raises(MailpoolsError, match="10.9.9.9"):
        pause_ip(session, user(session, "sam"), "10.9.9.9")


@pytest.mark.parametrize(
    "action",
    [
        lambda s, u: list_pools(s, u),
        lambda s, u: list_ips(s, u),
        lambda s, u: list_warmups(s, u),
        lambda s, u: pause_ip(s, u, "127.0.0.2"),
        lambda s, u: resume_ip(s, u, "127.0.0.2"),
        lambda s, u: set_ip_weight(s, u, "127.0.0.2", 3),
    ],
)
def test_owners_are_refused(sqlite_engine, action):
    build_world(sqlite_engine)
    with (
        session_scope(sqlite_engine) as session,
        pytest.raises(PermissionDenied, match="alice is an owner"),
    ):
        action(session, user(session, "alice"))
    assert _ip(sqlite_engine, "127.0.0.2").state == IpState.ACTIVE
    assert _ip(sqlite_engine, "127.0.0.2").weight == 1


def test_warmups_list_shows_day_share_and_holds(engine):
    build_world(engine)
    with session_scope(engine) as session:
        request = request_dedicated(
            session,
            user(session, "bruno"),
            ["offers.bolt.example"],
            weekly_volume=60_000,
            ip_count=2,
        ).subject
        request_id = request.id
    with session_scope(engine) as session:
        approve(session, user(session, "tess"), request_id)
    with Session(engine) as session:
        [warmup] = list_warmups(session, user(session, "sam"))
    assert warmup.account == "bolt"
    assert warmup.domains == ["offers.bolt.example"]
    assert warmup.ips == ["127.0.0.20", "127.0.0.21"]
    assert (warmup.day, warmup.held_days, warmup.state) == (1, 0, "running")
    assert warmup.today_share == pytest.approx(0.02)
    assert warmup.planned_days > 30


def _approved_group(engine) -> None:
    with session_scope(engine) as session:
        request = request_dedicated(
            session,
            user(session, "carla"),
            ["corvid.example", "mail.corvid.example"],
            weekly_volume=90_000,
        ).subject
        request_id = request.id
    with session_scope(engine) as session:
        approve(session, user(session, "sam"), request_id)


def test_pausing_and_resuming_a_warmup_is_audited_and_told_to_the_owner(engine):
    build_world(engine)
    _approved_group(engine)
    with session_scope(engine) as session:
        pause_warmup(session, user(session, "tess"), "mail.corvid.example")
    with Session(engine) as session:
        [view] = list_warmups(session, user(session, "sam"))
        titles = [
            n.title
            for n in session.exec(select(Notification).where(Notification.kind == "warmup_paused"))
        ]
    assert view.state == "paused"
    assert titles == ["The warm-up of mail.corvid.example's dedicated IPs is paused"]
    with session_scope(engine) as session, pytest.raises(MailpoolsError, match="already paused"):
        pause_warmup(session, user(session, "tess"), "corvid.example")
    with session_scope(engine) as session:
        resumed = resume_warmup(session, user(session, "sam"), "corvid.example")
        assert resumed.subject.evaluated_through == TODAY - timedelta(days=1)
    with session_scope(engine) as session, pytest.raises(MailpoolsError, match="not paused"):
        resume_warmup(session, user(session, "sam"), "corvid.example")
    [paused] = _events(engine, "warmup.pause")
    [resumed_event] = _events(engine, "warmup.resume")
    assert (paused.actor, paused.entity_id, resumed_event.actor) == (
        "tess",
        "corvid-dedicated-1",
        "sam",
    )


def test_warmup_actions_need_a_warmup_in_progress_and_an_agent(sqlite_engine):
    build_world(sqlite_engine)
    with (
        session_scope(sqlite_engine) as session,
        pytest.raises(MailpoolsError, match="no dedicated IP warm-up"),
    ):
        pause_warmup(session, user(session, "sam"), "bolt.example")
    _approved_group(sqlite_engine)
    for action in (pause_warmup, resume_warmup):
        with (
            session_scope(sqlite_engine) as session,
            pytest.raises(PermissionDenied, match="carla is an owner"),
        ):
            action(session, user(session, "carla"), "corvid.example")
    with Session(sqlite_engine) as session:
        assert session.exec(select(Warmup)).one().state == "running"


def test_a_shared_pool_lists_the_domains_warming_beside_it_until_the_warm_up_completes(engine):
    build_world(engine)
    with session_scope(engine) as session:
        request = request_dedicated(
            session, user(session, "alice"), ["news.acme.example"], weekly_volume=80_000
        ).subject
        request_id = request.id
    with session_scope(engine) as session:
        approve(session, user(session, "sam"), request_id)
    with Session(engine) as session:
        by_name = {pool.name: pool for pool in list_pools(session, user(session, "sam"))}
    beside = {pool.name: [d.name for d in pool.warming_beside] for pool in by_name.values()}
    [shared] = [name for name, names in beside.items() if names]
    assert beside[shared] == ["news.acme.example"]
    assert "news.acme.example" not in [d.name for d in by_name[shared].domains]
    assert by_name[shared].as_json()["warming_beside"][0]["name"] == "news.acme.example"
    with session_scope(engine) as session:
        warmup = session.exec(select(Warmup)).one()
        warmup.state = "complete"
        session.add(warmup)
    with Session(engine) as session:
        assert all(not pool.warming_beside for pool in list_pools(session, user(session, "sam")))


def test_checks_before_a_confirmation_refuse_as_the_change_would_and_change_nothing(engine):
    build_world(engine)
    with session_scope(engine) as session:
        sam = user(session, "sam")
        assert check_pause_ip(session, sam, "127.0.0.2").startswith("Pause 127.0.0.2 of shared-a?")
        assert "from 1 to 3?" in check_ip_weight(session, sam, "127.0.0.2", "3")
        assert "is told: “Bounces at 9% all week.”" in check_removal(
            session, sam, "bolt.example", reason="  Bounces at 9%   all week."
        )
        with pytest.raises(MailpoolsError, match="words the owner can act on") as vague:
            check_removal(session, sam, "bolt.example", reason="x")
        assert vague.value.field == "reason"
        with pytest.raises(MailpoolsError, match="whole number from 0 to 100"):
            check_ip_weight(session, sam, "127.0.0.2", "heavy")
        with pytest.raises(MailpoolsError, match="nothing to reinstate"):
            check_reinstatement(session, sam, "bolt.example")
    with session_scope(engine) as session:
        pause_ip(session, user(session, "sam"), "127.0.0.2")
    with session_scope(engine) as session, pytest.raises(MailpoolsError, match="no IP to send"):
        check_pause_ip(session, user(session, "sam"), "127.0.0.3")
    with Session(engine) as session:
        actions = session.exec(select(AuditEvent.action)).all()
        assert [a for a in actions if not a.startswith(("inventory.", "dkim."))] == ["ip.pause"]
        assert session.exec(select(Notification)).all() == []
    assert _ip(engine, "127.0.0.3").state == IpState.ACTIVE


def test_reinstating_a_domain_still_over_its_limits_says_so_before_and_after(engine):
    build_world(engine)
    for back in range(3):
        record_domain_day(
            engine, "bolt.example", TODAY - timedelta(days=back), sent=400, bounced=100
        )
    record_domain_day(engine, "acme.example", TODAY, sent=100, bounced=1)
    with session_scope(engine) as session:
        tess = user(session, "tess")
        for name in ("bolt.example", "acme.example"):
            remove_domain(session, tess, name, reason="Bounces at 20% all week.")
    with session_scope(engine) as session:
        sam = user(session, "sam")
        over = check_reinstatement(session, sam, "bolt.example")
        scarce = check_reinstatement(session, sam, "acme.example")
    assert over.still_over
    assert (over.standing.reading.volume, over.standing.reading.bounce_rate) == (1_500, 0.2)
    assert "bounces 20.00% against a limit of 5.00%" in over.standing.summary
    assert over.question.startswith("Still over ")
    # Too few messages to judge: not over, and the summary says why.
    assert not scarce.still_over
    assert "101 messages over the last 7 days: fewer than the 500" in scarce.standing.summary
    assert scarce.question.startswith("Reinstate acme.example in ")
    with session_scope(engine) as session:
        summary = reinstate_domain(session, user(session, "sam"), "bolt.example").summary
    assert "is still over" in summary and "may remove it again" in summary
