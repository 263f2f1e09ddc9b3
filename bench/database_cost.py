"""Database time per delivered message on PostgreSQL, with 1, 2 and 4 sender processes.

PostgreSQL's own account of the time it spent executing statements
(pg_stat_statements) is read after each run and divided by the messages sent.
Each run has a fresh database with the demo inventory and the same queue of
campaign messages, sent by N `mailpools sender --until-empty` processes to one
loopback sink. Target: with 4 senders, at most 1.3 times the time per message
of 1 sender: claims and write-backs must not grow costlier as senders share the
queue. From the 1-sender figure follows how many messages a second one
PostgreSQL core sustains, the figure an operator sizes the database by.

It needs PostgreSQL 15's server programs (`pg_ctl`, `initdb`) and starts a
throwaway server of its own on loopback with pg_stat_statements loaded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

from sqlalchemy import text

from bench._sending_setup import ROOT, seed, sink_process
from data.db import make_engine

MESSAGES = int(os.environ.get("MAILPOOLS_BENCH_MESSAGES", "6000"))
SENDERS = (1, 2, 4)
TARGET = 1.3
SERVER_SCRIPT = ROOT / ".ci" / "postgres"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Server:
    """A throwaway PostgreSQL server on loopback with pg_stat_statements loaded."""

    def __init__(self) -> None:
        port = _free_port()
        self.environment = {
            **os.environ,
            "MAILPOOLS_PG_PORT": str(port),
            "MAILPOOLS_PG_OPTIONS": "-c shared_preload_libraries=pg_stat_statements",
        }
        self.url = subprocess.run(
            ["bash", str(SERVER_SCRIPT), "start"],
            env=self.environment,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def database(self, name: str) -> str:
        admin = make_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            connection.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        subprocess.run(["bash", str(SERVER_SCRIPT), "stop"], env=self.environment, check=False)


def _prepared(url: str) -> None:
    engine = seed(url, MESSAGES)
    with engine.begin() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        connection.execute(text("SELECT pg_stat_statements_reset()"))
    engine.dispose()


def _database_time(url: str) -> tuple[dict[str, tuple[float, int]], int]:
    """Per statement, the milliseconds PostgreSQL spent executing it in this database and
    its calls; and the messages sent."""
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT query, sum(total_exec_time), sum(calls) FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND query NOT LIKE '%pg_stat_statements%' GROUP BY query"
            )
        ).all()
        sent = connection.execute(
            text("SELECT count(*) FROM messages WHERE status = 'sent'")
        ).scalar_one()
    engine.dispose()
    return {query: (float(spent), int(calls)) for query, spent, calls in rows}, int(sent)


def _grown(
    one: dict[str, tuple[float, int]], one_sent: int, many: dict[str, tuple[float, int]], sent: int
) -> list[str]:
    """The statements whose time per message grew most from ONE sender to MANY."""
    growth = {
        query: spent / max(sent, 1) - one.get(query, (0.0, 0))[0] / max(one_sent, 1)
        for query, (spent, _) in many.items()
    }
    worst = sorted(growth, key=growth.get, reverse=True)[:3]  # type: ignore[arg-type]
    return [
        f"  +{growth[query]:.3f} ms a message: {' '.join(query.split())[:110]}" for query in worst
    ]


def _run(
    server: _Server, sink_port: int, senders: int
) -> tuple[dict[str, tuple[float, int]], int, float]:
    url = server.database(f"bench_senders_{senders}")
    _prepared(url)
    command = [
        sys.executable,
        "-m",
        "app.cli",
        "sender",
        "--until-empty",
        "--relay",
        f"127.0.0.1:{sink_port}",
        "--quiet",
    ]
    environment = {**os.environ, "MAILPOOLS_DATABASE_URL": url}
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(senders)
    ]
    for process in processes:
        _, errors = process.communicate(timeout=1800)
        if process.returncode != 0:
            raise RuntimeError(f"a sender failed: {errors.strip()[-500:]}")
    elapsed = time.perf_counter() - started
    statements, sent = _database_time(url)
    return statements, sent, elapsed


def run() -> list[str]:
    if shutil.which("pg_ctl") is None or shutil.which("initdb") is None:
        return ["skipped: PostgreSQL's server programs (pg_ctl, initdb) are not installed"]
    server = _Server()
    lines = [
        f"{MESSAGES:,} campaign messages per run, demo inventory, PostgreSQL 15 "
        "(pg_stat_statements), one loopback sink"
    ]
    per_message: dict[int, float] = {}
    runs: dict[int, tuple[dict[str, tuple[float, int]], int]] = {}
    try:
        with sink_process() as port:
            for senders in SENDERS:
                statements, sent, elapsed = _run(server, port, senders)
                runs[senders] = statements, sent
                spent = sum(time for time, _ in statements.values())
                calls = sum(count for _, count in statements.values())
                per_message[senders] = spent / max(sent, 1)
                lines.append(
                    f"{senders} sender{'s' if senders > 1 else ' '}: {sent:,} sent in "
                    f"{elapsed:,.1f} s; database {spent:,.0f} ms in {calls:,} statements, "
                    f"{per_message[senders]:.3f} ms and {calls / max(sent, 1):.1f} statements "
                    "per message"
                )
    finally:
        server.stop()
    ratio = per_message[4] / per_message[1]
    verdict = "meets" if ratio <= TARGET else "misses"
    lines.append(
        f"ratio 4 senders / 1 sender: {ratio:.2f} ({verdict} the {TARGET} target); one "
        f"PostgreSQL core sustains about {1000 / per_message[1]:,.0f} messages a second "
        "at the 1-sender cost"
    )
    lines.append("the statements whose time grew most from 1 to 4 senders:")
    lines += _grown(*runs[1], *runs[4])
    return lines
