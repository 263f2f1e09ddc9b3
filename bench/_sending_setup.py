"""What the sender benchmarks share: a sink process, a seeded SQLite database, a queue."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Engine

from app.services.auth import get_user
from app.services.dkim import make_missing_keys
from app.services.inventory import apply_inventory, load_file
from app.services.outbox import enqueue
from data.db import make_engine, session_scope, upgrade

ROOT = Path(__file__).resolve().parent.parent
DEMO_INVENTORY = ROOT / "data" / "seed" / "demo.toml"
SENDER_ADDRESS = "deals@offers.bolt.example"
SENDER_OWNER = "bruno"


@contextmanager
def sink_process():
    """A loopback SMTP sink in its own process, so it does not share the sender's interpreter."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app.demo.sink"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(process.stdout.readline())
        yield port
    finally:
        process.terminate()
        process.communicate(timeout=30)


def seed(url: str, queued: int) -> Engine:
    """Make URL's schema, apply the demo inventory and queue QUEUED campaign messages from
    the benchmarks' sender; returns an engine on it."""
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        apply_inventory(session, None, load_file(DEMO_INVENTORY))
    make_missing_keys(engine, "operator")
    if queued:
        with session_scope(engine) as session:
            enqueue(
                session,
                get_user(session, SENDER_OWNER),
                from_addr=SENDER_ADDRESS,
                to_addr="reader@sink.test",
                kind="campaign",
                subject="Benchmark",
                count=queued,
            )
    return engine


@contextmanager
def seeded_database(queued: int):
    """A fresh SQLite database with the demo inventory and QUEUED campaign messages."""
    with tempfile.TemporaryDirectory(prefix="mailpools-bench-") as directory:
        url = f"sqlite:///{directory}/bench.db"
        engine = seed(url, queued)
        try:
            yield url, engine
        finally:
            engine.dispose()
