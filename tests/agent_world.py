"""The world the agents' console tests stand in.

On top of the demo inventory: two pending requests (bolt's dedicated IPs,
filed three days ago; acme's transactional move, filed yesterday, after an
earlier one was denied), corvid's dedicated group warming with too little
volume, a week of stats with news.acme.example close to its complaint limit, and
DNS checks against the demo's DNS records (a listed IP, a few broken domains).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from app.demo import dns_zones
from app.services.requests.decisions import approve, deny
from app.services.requests.filing import request_dedicated, request_transactional
from data.db import session_scope
from tests.clock_moves import move_clock
from tests.factories import build_world, record_domain_day, user

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
JUSTIFICATION = "Receipts, password resets and shipping updates for customers of the acme shop."


def agent_world(engine) -> dict[str, int]:
    """Build the world; return the ids of the pending requests by name."""
    move_clock(NOW - timedelta(days=14))
    build_world(engine)
    move_clock(NOW - timedelta(days=12))
    with session_scope(engine) as session:
        earlier = request_transactional(
            session,
            user(session, "alice"),
            "acme.example",
            justification=JUSTIFICATION,
            confirmation="acme.example",
        ).subject.id
    with session_scope(engine) as session:
        deny(
            session,
            user(session, "tess"),
            earlier,
            reason="Campaign traffic seen on the domain last week.",
        )
    move_clock(NOW - timedelta(days=10))
    with session_scope(engine) as session:
        corvid = request_dedicated(
            session,
            user(session, "carla"),
            ["corvid.example", "mail.corvid.example"],
            weekly_volume=60_000,
        ).subject.id
    with session_scope(engine) as session:
        approve(session, user(session, "sam"), corvid)
    move_clock(NOW - timedelta(days=3))
    with session_scope(engine) as session:
        bolt = request_dedicated(
            session,
            user(session, "bruno"),
            ["offers.bolt.example"],
            weekly_volume=70_000,
            ip_count=2,
        ).subject.id
    move_clock(NOW - timedelta(days=1))
    with session_scope(engine) as session:
        acme = request_transactional(
            session,
            user(session, "alice"),
            "acme.example",
            justification=JUSTIFICATION,
            confirmation="acme.example",
        ).subject.id
    move_clock(NOW)
    for offset in range(7):
        day = TODAY - timedelta(days=offset)
        record_domain_day(engine, "acme.example", day, sent=2_000, bounced=10, complaints=0)
        record_domain_day(engine, "news.acme.example", day, sent=1_500, bounced=12, complaints=4)
        record_domain_day(engine, "offers.bolt.example", day, sent=6_000, bounced=90, complaints=2)
        record_domain_day(engine, "corvid.example", day, sent=3_000, bounced=20, complaints=1)
    dns_zones.check_everything(engine)
    return {"bolt": bolt, "acme": acme, "corvid": corvid}
