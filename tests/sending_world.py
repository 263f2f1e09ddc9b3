"""Building sending situations for sender, warm-up and health tests, through the real services."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import text
from sqlmodel import select

from app.sender import SenderOptions
from app.services import outbox
from app.services.requests import decisions, filing
from data.db import session_scope
from data.models import Domain, Message, Pool, Warmup
from tests.factories import build_world, user

ROOT = Path(__file__).resolve().parents[1]
JUSTIFICATION = "Password resets and order receipts for customers who bought from our shop."


def world(engine):
    build_world(engine)
    return engine


def make_transactional(engine, domain: str = "acme.example", owner: str = "alice") -> None:
    with session_scope(engine) as session:
        request = filing.request_transactional(
            session, user(session, owner), domain, justification=JUSTIFICATION, confirmation=domain
        ).subject
        decisions.approve(session, user(session, "sam"), request.id)


def make_dedicated(
    engine,
    domains: list[str],
    owner: str = "alice",
    volume: int = 80_000,
    ips: list[str] | None = None,
) -> str:
    """Approve dedicated IPs for DOMAINS; returns the dedicated pool's name."""
    with session_scope(engine) as session:
        request = filing.request_dedicated(
            session, user(session, owner), domains, weekly_volume=volume, ip_count=len(ips or [1])
        ).subject
        decisions.approve(session, user(session, "sam"), request.id, ip_addresses=ips)
        return session.get(Pool, request.dedicated_pool_id).name


def warmup_of(engine, pool_name: str) -> Warmup:
    with session_scope(engine) as session:
        pool = session.exec(select(Pool).where(Pool.name == pool_name)).one()
        return session.exec(select(Warmup).where(Warmup.pool_id == pool.id)).one()


def set_warmup(engine, pool_name: str, **values) -> None:
    """Stand a warm-up on a given day or state (test set-up, as if days had passed)."""
    with session_scope(engine) as session:
        pool = session.exec(select(Pool).where(Pool.name == pool_name)).one()
        warmup = session.exec(select(Warmup).where(Warmup.pool_id == pool.id)).one()
        for name, value in values.items():
            setattr(warmup, name, value)
        session.add(warmup)


def enqueue(
    engine,
    *,
    by: str,
    from_addr: str,
    to_addr: str = "someone@dest.test",
    kind: str = "campaign",
    count: int = 1,
    subject: str = "",
) -> list[str]:
    with session_scope(engine) as session:
        return outbox.enqueue(
            session,
            user(session, by),
            from_addr=from_addr,
            to_addr=to_addr,
            kind=kind,
            count=count,
            subject=subject,
        ).message_ids


def relay_options(sink, **changes) -> SenderOptions:
    options = SenderOptions(
        relay=("127.0.0.1", sink.port),
        until_empty=True,
        # Only the tests about slow servers should ever reach a timeout.
        smtp_timeout=30,
        poll_seconds=0.1,
    )
    for name, value in changes.items():
        setattr(options, name, value)
    return options


def statuses(engine) -> Counter:
    with session_scope(engine) as session:
        return Counter(
            dict(
                session.execute(text("SELECT status, count(*) FROM messages GROUP BY status")).all()
            )
        )


def messages(engine, **where) -> list[Message]:
    with session_scope(engine) as session:
        query = select(Message).order_by(Message.id)
        for name, value in where.items():
            query = query.where(getattr(Message, name) == value)
        return list(session.exec(query))


def domain(engine, name: str) -> Domain:
    with session_scope(engine) as session:
        return session.exec(select(Domain).where(Domain.name == name)).one()


def duplicates_by_kill(delivered: Counter, left_by: dict[str, int], kills: int) -> Counter:
    """How many extra copies each kill caused, from DELIVERED (copies by Message-ID) and
    LEFT_BY (the kill whose dead sender held each message leased). Only a message a killed
    sender held may go out twice (at least once, never lost)."""
    duplicates = Counter({kill: 0 for kill in range(kills)})
    for message_id, times in delivered.items():
        if times > 1:
            assert message_id in left_by, f"{message_id} was sent twice but no kill left it"
            duplicates[left_by[message_id]] += times - 1
    return duplicates


def start_sender(database_url: str, sink_port: int, *more: str) -> subprocess.Popen:
    """`mailpools sender` as its own process, relaying to the sink on SINK_PORT in batches
    of 200, quiet, with MORE arguments; on the real clock, as a deployed sender runs."""
    environment = dict(os.environ, MAILPOOLS_DATABASE_URL=database_url)
    environment.pop("MAILPOOLS_NOW", None)
    command = [sys.executable, "-m", "app.cli", "sender", "--relay", f"127.0.0.1:{sink_port}"]
    return subprocess.Popen(
        [*command, "--batch", "200", "--quiet", *more],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
