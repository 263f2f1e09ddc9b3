"""A living demo world: the demo inventory plus a month of history.

Everything goes through the real services (inventory, requests, reviews,
removals) with the clock moved back where history needs it, so the demo
shows states the product really reaches: requests waiting for review, a
dedicated IP group two weeks into its warm-up with a held day (judged
by the real daily evaluation), a domain
removed from its pool for bounces, and DNS checks run against the demo's own
DNS server (app/demo/dns_zones.py), a few records wrong on purpose.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app import clock
from app.demo import dns_zones
from app.rules.warmup_plan import dedicated_share
from app.services import pools
from app.services.auth import get_user
from app.services.dkim import make_missing_keys
from app.services.inventory import apply_inventory, load_file
from app.services.lookups import get_domain
from app.services.requests import decisions, filing
from app.services.warmups import evaluate_warmups
from data.db import session_scope
from data.models import (
    Account,
    DomainDailyStat,
    IpAddress,
    IpDailyStat,
    User,
    Warmup,
    saved_id,
)

DEMO_INVENTORY = Path(__file__).resolve().parent.parent.parent / "data" / "seed" / "demo.toml"
HISTORY_DAYS = 30
# The inventory (accounts, pools, IPs, domains) was set up a few days before the history starts.
SET_UP_DAYS_AGO = HISTORY_DAYS + 5

# When each morning's warm-up evaluation runs in the seeded history.
EVALUATION_TIME = time(0, 30)

# Typical daily volumes, bounce and complaint rates of the demo domains.
DOMAIN_TRAFFIC = {
    "acme.example": (9_000, 0.004, 0.0002),
    "news.acme.example": (11_000, 0.012, 0.0011),
    "billing.acme.example": (2_500, 0.003, 0.0001),
    "bolt.example": (1_800, 0.008, 0.0004),
    "offers.bolt.example": (4_000, 0.071, 0.0042),
    "corvid.example": (16_000, 0.009, 0.0006),
    "mail.corvid.example": (6_000, 0.006, 0.0003),
}


def seed_demo(engine: Engine, *, seed: int = 7) -> None:
    now = clock.now()
    today = now.date()
    randomness = random.Random(seed)
    with clock.frozen_at(now - timedelta(days=SET_UP_DAYS_AGO)):
        with session_scope(engine) as session:
            apply_inventory(session, None, load_file(DEMO_INVENTORY))
        make_missing_keys(engine, "operator")

    with clock.frozen_at(now - timedelta(days=14, hours=3)), session_scope(engine) as session:
        carla = get_user(session, "carla")
        request = filing.request_dedicated(
            session,
            carla,
            ["corvid.example", "mail.corvid.example"],
            weekly_volume=150_000,
            ip_count=2,
        ).subject
    with clock.frozen_at(now - timedelta(days=13, hours=20)), session_scope(engine) as session:
        decisions.approve(session, get_user(session, "sam"), saved_id(request))

    with session_scope(engine) as session:
        _write_history(session, today, randomness)
    _evaluate_each_morning(engine, now)

    with clock.frozen_at(now - timedelta(days=2, hours=5)), session_scope(engine) as session:
        pools.remove_domain(
            session,
            get_user(session, "tess"),
            "offers.bolt.example",
            reason="Bounce rate 7.1% over the last 7 days against the pool's 5.0% limit.",
        )

    with clock.frozen_at(now - timedelta(days=3, hours=2)), session_scope(engine) as session:
        filing.request_transactional(
            session,
            get_user(session, "bruno"),
            "bolt.example",
            justification="Order confirmations, shipping updates and password resets for people "
            "who buy from the Bolt store; no marketing.",
            confirmation="bolt.example",
        )
    with clock.frozen_at(now - timedelta(hours=20)), session_scope(engine) as session:
        filing.request_dedicated(
            session,
            get_user(session, "alice"),
            ["news.acme.example"],
            weekly_volume="80k",
            ip_count=1,
        )
    with clock.frozen_at(now - timedelta(hours=2)), session_scope(engine) as session:
        filing.request_transactional(
            session,
            get_user(session, "alice"),
            "billing.acme.example",
            justification="Invoices, payment receipts and failed-payment reminders for Acme "
            "subscribers, sent one by one as each event happens.",
            confirmation="billing.acme.example",
        )
    with clock.frozen_at(now - timedelta(minutes=40)):
        dns_zones.check_everything(engine)


def _write_history(session: Session, today: date, randomness: random.Random) -> None:
    """A month of daily stats per domain and per IP; warming domains split their
    traffic between the shared and the dedicated IPs as the plan says."""
    warmup = session.exec(select(Warmup)).one()
    dedicated_ips = list(session.exec(select(IpAddress).where(IpAddress.pool_id == warmup.pool_id)))
    # One bad day on the dedicated IPs, so the warm-up shows a held day and its reason.
    bad_day = warmup.started_on + timedelta(days=6)
    for name, (daily, bounce, complaint) in DOMAIN_TRAFFIC.items():
        domain = get_domain(session, name)
        shared_ips = list(
            session.exec(select(IpAddress).where(IpAddress.pool_id == domain.shared_pool_id))
        )
        for back in range(HISTORY_DAYS, 0, -1):
            day = today - timedelta(days=back)
            weekday_factor = 0.6 if day.weekday() >= 5 else 1.0
            volume = int(daily * weekday_factor * randomness.uniform(0.85, 1.15))
            bounced = int(volume * bounce * randomness.uniform(0.8, 1.2))
            complaints = int(volume * complaint * randomness.uniform(0.7, 1.3))
            sent = volume - bounced
            campaign = (
                int(sent * 0.55) if name.startswith(("news.", "offers.")) else int(sent * 0.05)
            )
            session.add(
                DomainDailyStat(
                    domain_id=saved_id(domain),
                    day=day,
                    sent=sent,
                    deferred=int(volume * 0.01),
                    bounced=bounced,
                    complaints=complaints,
                    campaign_sent=campaign,
                    broadcast_sent=int(sent * 0.02),
                )
            )
            share = 0.0
            if domain.dedicated_pool_id == warmup.pool_id and day >= warmup.started_on:
                share = dedicated_share((day - warmup.started_on).days + 1, warmup.planned_days)
                dedicated_complaints = (
                    int(sent * share * 0.006) if day == bad_day else int(complaints * share)
                )
                _spread_over_ips(
                    session,
                    dedicated_ips,
                    day,
                    int(sent * share),
                    int(bounced * share),
                    dedicated_complaints,
                )
            _spread_over_ips(
                session,
                shared_ips,
                day,
                sent - int(sent * share),
                bounced - int(bounced * share),
                complaints - int(complaints * share),
            )
    session.flush()


def _evaluate_each_morning(engine: Engine, now: datetime) -> None:
    """The warm-up stands where the daily evaluation of that history leaves it, run as the
    sender runs it: early each morning, judging the day before, so every held day's notice
    is dated the morning after that day."""
    today = now.date()
    with session_scope(engine) as session:
        first = min(session.exec(select(col(Warmup.started_on))).all(), default=today)
    morning = first + timedelta(days=1)
    while morning <= today:
        # Never later than now: this morning's run may not have happened yet.
        at = min(datetime.combine(morning, EVALUATION_TIME, tzinfo=UTC), now)
        with clock.frozen_at(at):
            evaluate_warmups(engine, morning)
        morning += timedelta(days=1)


def _spread_over_ips(
    session: Session, ips: list[IpAddress], day: date, sent: int, bounced: int, complaints: int
) -> None:
    for ip in ips:
        ip_id = saved_id(ip)
        row = session.get(IpDailyStat, (ip_id, day, 0)) or IpDailyStat(ip_id=ip_id, day=day)
        row.sent += sent // len(ips)
        row.bounced += bounced // len(ips)
        row.complaints += complaints // len(ips)
        session.add(row)
        session.flush()


@dataclass(frozen=True)
class CastMember:
    """Someone the demo can open the console as."""

    name: str
    role: str
    account: str | None
    plan: str | None


def demo_cast(engine: Engine) -> list[CastMember]:
    """Every user, owners first, for the demo's "open the console as" list."""
    with session_scope(engine) as session:
        accounts = {a.id: a for a in session.exec(select(Account))}
        users = session.exec(select(User).order_by(col(User.role).desc(), User.name)).all()
        cast = []
        for user in users:
            account = accounts.get(user.account_id)
            cast.append(
                CastMember(
                    name=user.name,
                    role=user.role,
                    account=account.name if account else None,
                    plan=account.plan if account else None,
                )
            )
    return cast
