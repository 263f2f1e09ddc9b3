from datetime import date, timedelta

import pytest
from sqlmodel import Session

from app.errors import PermissionDenied
from app.services.flags import domains_near_thresholds, low_volume_dedicated_ips
from app.services.pools import remove_domain
from app.services.requests.decisions import approve
from app.services.requests.filing import request_dedicated
from data.db import session_scope
from tests.factories import build_world, record_domain_day, user

TODAY = date(2026, 11, 26)


def _dedicated(engine, owner: str, domains: list[str], *, ips: int = 1) -> None:
    with session_scope(engine) as session:
        request = request_dedicated(
            session, user(session, owner), domains, weekly_volume=80_000, ip_count=ips
        ).subject
        request_id = request.id
    with session_scope(engine) as session:
        approve(session, user(session, "sam"), request_id)


def test_dedicated_ips_under_the_weekly_minimum_across_their_domains_are_flagged(engine):
    build_world(engine)
    _dedicated(engine, "bruno", ["offers.bolt.example"], ips=2)
    _dedicated(engine, "carla", ["corvid.example", "mail.corvid.example"])
    record_domain_day(engine, "offers.bolt.example", TODAY, sent=30_000)
    record_domain_day(engine, "offers.bolt.example", TODAY - timedelta(days=8), sent=90_000)
    # Corvid's two domains together reach the minimum; neither would alone.
    record_domain_day(engine, "corvid.example", TODAY - timedelta(days=1), sent=26_000)
    record_domain_day(engine, "mail.corvid.example", TODAY - timedelta(days=6), sent=24_000)
    with Session(engine) as session:
        flags = low_volume_dedicated_ips(session, user(session, "tess"))
    assert [(f.address, f.account, f.weekly_volume) for f in flags] == [
        ("127.0.0.20", "bolt", 30_000),
        ("127.0.0.21", "bolt", 30_000),
    ]
    assert flags[0].domains == ["offers.bolt.example"]
    assert flags[0].minimum == 50_000


def test_a_group_one_message_short_is_flagged(engine):
    build_world(engine)
    _dedicated(engine, "carla", ["corvid.example"])
    record_domain_day(engine, "corvid.example", TODAY, sent=49_999)
    with Session(engine) as session:
        assert [
            f.weekly_volume for f in low_volume_dedicated_ips(session, user(session, "sam"))
        ] == [49_999]
    record_domain_day(engine, "corvid.example", TODAY - timedelta(days=1), sent=1)
    with Session(engine) as session:
        assert low_volume_dedicated_ips(session, user(session, "sam")) == []


def test_domains_close_to_their_pools_thresholds_are_flagged_closest_first(engine):
    build_world(engine)
    # Shared pools: 5% bounce, 0.3% complaints.
    record_domain_day(engine, "acme.example", TODAY, sent=1000, bounced=45)  # 4.3% bounce: 86%
    record_domain_day(engine, "news.acme.example", TODAY, sent=1000, complaints=3)  # 0.3%: 100%
    record_domain_day(engine, "bolt.example", TODAY, sent=1000, bounced=20)  # 2%: 39%
    record_domain_day(
        engine, "offers.bolt.example", TODAY - timedelta(days=20), sent=10, bounced=10
    )
    with Session(engine) as session:
        flags = domains_near_thresholds(session, user(session, "sam"))
    assert [(f.name, f.worst) for f in flags] == [
        ("news.acme.example", "complaint"),
        ("acme.example", "bounce"),
    ]
    assert flags[0].rates.closeness == pytest.approx(1.0)
    assert flags[1].pool in ("shared-a", "shared-b")


def test_removed_domains_are_not_flagged_again(engine):
    build_world(engine)
    record_domain_day(engine, "acme.example", TODAY, sent=1000, bounced=300)
    with session_scope(engine) as session:
        remove_domain(
            session, user(session, "sam"), "acme.example", reason="Bounces far over the limit."
        )
    with Session(engine) as session:
        assert domains_near_thresholds(session, user(session, "sam")) == []


def test_owners_are_refused(sqlite_engine):
    build_world(sqlite_engine)
    with Session(sqlite_engine) as session:
        with pytest.raises(PermissionDenied):
            low_volume_dedicated_ips(session, user(session, "carla"))
        with pytest.raises(PermissionDenied):
            domains_near_thresholds(session, user(session, "carla"))
