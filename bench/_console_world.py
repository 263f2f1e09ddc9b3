"""The console benchmarks' database: 10,000 domains and 1,000,000 messages of history.

Built once with bulk inserts (executemany) and cached in /tmp under a name that
carries the schema's fingerprint, so a changed schema builds a new one; the demo
inventory gives it pools and users, and one account, "bulk", owns the domains.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from app import clock
from data.db import make_engine, session_scope, upgrade
from data.models import Account, Domain, DomainDailyStat, Message, Pool, User
from tests.factories import build_world

_SCHEMA = Path(__file__).resolve().parent.parent / "data" / "migrations" / "versions"
_SCHEMA_PRINT = hashlib.sha256(
    b"".join(path.read_bytes() for path in sorted(_SCHEMA.glob("*.py")))
).hexdigest()[:12]
DATABASE = Path(f"/tmp/mailpools-bench-console-{_SCHEMA_PRINT}.db")
URL = f"sqlite:///{DATABASE}"
DOMAINS = 10_000
MESSAGES = 1_000_000
HISTORY_DAYS = 30
OWNER = "bulkowner"
NOW = "2026-11-26T09:00:00"
SAMPLE_DOMAIN = "d05000.bulk.example"
CHUNK = 50_000


@clock.frozen_at(NOW)
def ensure_world() -> str:
    """The URL of the cached database, building it first if it is missing or incomplete."""
    if DATABASE.exists():
        engine = make_engine(URL)
        try:
            with session_scope(engine) as session:
                if session.exec(select(func.count()).select_from(Message)).one()[0] == MESSAGES:
                    return URL
        except Exception:  # noqa: BLE001 - any failure means the cache is stale; rebuild it
            pass
        finally:
            engine.dispose()
        DATABASE.unlink()
    upgrade(URL)
    engine = make_engine(URL)
    build_world(engine)
    now = datetime.fromisoformat(NOW + "+00:00")
    with session_scope(engine) as session:
        shared = session.exec(select(Pool.id).where(Pool.name == "shared-a")).one()[0]
        session.execute(
            insert(Account.__table__), [{"name": "bulk", "plan": "premium", "created_at": now}]
        )
        account = session.exec(select(Account.id).where(Account.name == "bulk")).one()[0]
        session.execute(
            insert(User.__table__),
            [
                {
                    "name": OWNER,
                    "role": "owner",
                    "account_id": account,
                    "ssh_keys": "",
                    "created_at": now,
                }
            ],
        )
        session.execute(
            insert(Domain.__table__),
            [
                {
                    "name": f"d{n:05}.bulk.example",
                    "account_id": account,
                    "transactional_service": n % 3 == 0,
                    "sending_mode": "shared",
                    "shared_pool_id": shared,
                    "status": "active",
                    "created_at": now - timedelta(days=60),
                }
                for n in range(DOMAINS)
            ],
        )
        ids = [
            row[0] for row in session.exec(select(Domain.id).where(Domain.account_id == account))
        ]
    today = now.date()
    with session_scope(engine) as session:
        rows = []
        for domain_id in ids:
            for back in range(HISTORY_DAYS):
                rows.append(
                    {
                        "domain_id": domain_id,
                        "day": today - timedelta(days=back),
                        "sent": 100 + domain_id % 400,
                        "deferred": domain_id % 5,
                        "bounced": domain_id % 9,
                        "complaints": domain_id % 2,
                        "rejected": 0,
                        "campaign_sent": 20,
                        "broadcast_sent": 5,
                    }
                )
            if len(rows) >= CHUNK:
                session.execute(insert(DomainDailyStat.__table__), rows)
                rows = []
        if rows:
            session.execute(insert(DomainDailyStat.__table__), rows)
    per_domain = MESSAGES // len(ids)
    for start in range(0, len(ids), CHUNK // per_domain):
        with session_scope(engine) as session:
            rows = []
            for domain_id in ids[start : start + CHUNK // per_domain]:
                for n in range(per_domain):
                    created = now - timedelta(minutes=(n * 431 + domain_id) % (HISTORY_DAYS * 1440))
                    rows.append(
                        {
                            "message_id": f"<{domain_id}.{n}@bulk.example>",
                            "domain_id": domain_id,
                            "from_addr": "news@bulk.example",
                            "to_addr": f"reader{n}@example.net",
                            "subject": "Hello",
                            "kind": "campaign" if n % 4 else "transactional",
                            "status": "sent",
                            "attempts": 1,
                            "created_at": created,
                            "next_attempt_at": created,
                            "finished_at": created,
                            "last_reply": "250 2.0.0 OK",
                        }
                    )
            session.execute(insert(Message.__table__), rows)
    engine.dispose()
    return URL
