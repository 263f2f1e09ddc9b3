"""The agents' triage queue with 1,000 pending requests, each with a week of
stats and an earlier decision on the same domain, against the plain listing
of the same pending requests (`requests list --status pending`), which reads
only the requests themselves. Target: the queue, with volumes, rates against
thresholds and history, costs at most 2× the plain listing."""

from __future__ import annotations

import statistics
import tempfile
import time
import tomllib
from datetime import date, timedelta
from pathlib import Path

from sqlmodel import select

from app import clock
from app.services.auth import get_user
from app.services.inventory import apply_inventory, parse
from app.services.requests.decisions import deny
from app.services.requests.filing import request_transactional
from app.services.requests.listing import list_requests
from app.services.triage import triage_queue
from data.db import make_engine, session_scope, upgrade
from data.models import Domain, DomainDailyStat

REQUESTS = 1_000
ROUNDS = 7
TARGET = 2.0
NOW = "2026-11-26T09:00:00"
DEMO_INVENTORY = Path(__file__).resolve().parent.parent / "data" / "seed" / "demo.toml"
JUSTIFICATION = "Receipts, password resets and shipping notices for the shop's own customers."


def _world(url: str) -> None:
    raw = tomllib.loads(DEMO_INVENTORY.read_text(encoding="utf-8"))
    raw["accounts"] += [{"name": f"bench{i}", "plan": "standard"} for i in range(REQUESTS)]
    raw["domains"] += [
        {"name": f"d{i}.bench.example", "account": f"bench{i}", "transactional_service": True}
        for i in range(REQUESTS)
    ]
    raw["users"] += [
        {"name": f"owner{i}", "role": "owner", "account": f"bench{i}"} for i in range(REQUESTS)
    ]
    engine = make_engine(url)
    with session_scope(engine) as session:
        apply_inventory(session, None, parse(raw, "bench"))
    for round_ in ("earlier", "pending"):
        with session_scope(engine) as session:
            filed = [
                request_transactional(
                    session,
                    get_user(session, f"owner{i}"),
                    f"d{i}.bench.example",
                    justification=JUSTIFICATION,
                    confirmation=f"d{i}.bench.example",
                ).subject
                for i in range(REQUESTS)
            ]
            session.flush()
            if round_ == "earlier":
                tess = get_user(session, "tess")
                for request in filed:
                    deny(
                        session, tess, request.id, reason="Tell us which messages the domain sends."
                    )
    with session_scope(engine) as session:
        today = date.fromisoformat(NOW[:10])
        bench_domains = session.exec(
            select(Domain.id).where(Domain.name.endswith(".bench.example"))
        )
        for domain_id in bench_domains.all():
            for offset in range(7):
                session.add(
                    DomainDailyStat(
                        domain_id=domain_id,
                        day=today - timedelta(days=offset),
                        sent=2_000,
                        bounced=20,
                        complaints=1,
                    )
                )
    engine.dispose()


def _timed(engine, read) -> float:
    with session_scope(engine) as session:
        sam = get_user(session, "sam")
        started = time.perf_counter()
        rows = read(session, sam)
        elapsed = time.perf_counter() - started
    assert len(rows) == REQUESTS, len(rows)
    return elapsed


def run() -> list[str]:
    with clock.frozen_at(NOW):
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{directory}/triage.db"
            upgrade(url)
            _world(url)
            engine = make_engine(url)

            def plain(session, actor):
                return list_requests(session, actor, status="pending")

            def queue(session, actor):
                return triage_queue(session, actor)

            _timed(engine, plain)
            _timed(engine, queue)
            listing, triage = [], []
            for _ in range(ROUNDS):
                listing.append(_timed(engine, plain))
                triage.append(_timed(engine, queue))
            engine.dispose()
    baseline, measured = statistics.median(listing), statistics.median(triage)
    ratio = measured / baseline
    return [
        f"{REQUESTS:,} pending requests, each domain with a week of stats and an earlier denial; "
        f"medians of {ROUNDS} alternating runs on SQLite",
        f"plain pending listing: {baseline:.3f} s",
        f"triage queue:          {measured:.3f} s",
        f"ratio {ratio:.2f}x (target at most {TARGET}x): {'met' if ratio <= TARGET else 'NOT met'}",
    ]
