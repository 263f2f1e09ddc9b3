"""Database cost per delivered message on PostgreSQL, with 1, 2 and 4 sender processes.

Each run has a fresh database with the demo inventory and the same queue of
campaign messages, sent by N `mailpools sender --until-empty` processes to one
loopback sink. Two measures of what the database spent, each divided by the
messages sent:

- CPU: the server's processor time (user plus system, from /proc) over the
  run, the postmaster and all its processes together, less what the same
  senders cost it on an empty queue (starting, upkeep, stopping: a cost per
  sender, not per message, which would otherwise weigh four times as much in
  the 4-sender run). This is the work each message costs PostgreSQL, and what
  "how many messages a second one core sustains" is about. The 1.3 target is
  judged on this figure. The whole CPU time is printed beside it.
- exec: the wall time PostgreSQL spent inside statements (pg_stat_statements'
  total_exec_time). It also counts waiting: for a lock another transaction
  holds, and for a core when sender processes and server backends outnumber
  the machine's cores (4 senders and 4 backends on 2 cores are preempted all
  the time). It shows contention, so it is printed with its own ratio, but on
  a small machine it grows with the number of senders whatever they do.

Beside them, the lock waits: how long backends spent waiting for a lock,
sampled from pg_stat_activity every few milliseconds (the sampler's own
backend is left out of the CPU figure).

Target: with 4 senders, the CPU per message at most 1.3 times that of 1
sender: claims and write-backs must not grow costlier as senders share the
queue. From the 1-sender CPU figure follows how many messages a second one
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
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from bench._sending_setup import ROOT, seed, sink_process
from data.db import make_engine

MESSAGES = int(os.environ.get("MAILPOOLS_BENCH_MESSAGES", "6000"))
SENDERS = (1, 2, 4)
TARGET = 1.3
SERVER_SCRIPT = ROOT / ".ci" / "postgres"
TICKS = os.sysconf("SC_CLK_TCK")
# How often the lock sampler looks: often enough to see waits of a few milliseconds,
# seldom enough that its own queries stay a small part of the server's work.
SAMPLE_SECONDS = 0.01


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None once
    the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _cpu_seconds(fields: list[str], children: bool) -> float:
    # utime and stime; cutime and cstime hold the processes it has reaped.
    spent = int(fields[11]) + int(fields[12])
    if children:
        spent += int(fields[13]) + int(fields[14])
    return spent / TICKS


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
        admin = make_engine(self.url)
        with admin.connect() as connection:
            backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin.dispose()
        fields = _stat(backend)
        assert fields is not None, "the server's backend vanished while being asked its pid"
        self.postmaster = int(fields[1])

    def database(self, name: str) -> str:
        admin = make_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            connection.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def _children(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                fields = _stat(int(entry.name))
                if fields is not None and int(fields[1]) == self.postmaster:
                    found.append(int(entry.name))
        return found

    def cpu_seconds(self) -> float:
        """The processor time the whole server has used so far: the postmaster's own and
        its reaped processes', and its live processes'."""
        fields = _stat(self.postmaster)
        assert fields is not None, "the PostgreSQL server stopped during the benchmark"
        spent = _cpu_seconds(fields, children=True)
        for child in self._children():
            child_fields = _stat(child)
            if child_fields is not None:
                spent += _cpu_seconds(child_fields, children=False)
        return spent

    def settle(self, database: str, timeout: float = 30.0) -> None:
        """Wait until no backend serves DATABASE any more and the postmaster has reaped
        them, so their processor time is in its account."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            serving = False
            for child in self._children():
                try:
                    title = Path(f"/proc/{child}/cmdline").read_bytes()
                except (FileNotFoundError, ProcessLookupError):
                    continue
                # A backend's title names its database: "postgres: USER DATABASE HOST ...".
                if f" {database} ".encode() in title.replace(b"\0", b" ") + b" ":
                    serving = True
            if not serving:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        subprocess.run(["bash", str(SERVER_SCRIPT), "stop"], env=self.environment, check=False)


class _LockSampler:
    """Samples, from a connection of its own, how many of DATABASE's backends wait for a
    lock; the waits add up to backends x seconds between samples."""

    def __init__(self, server: _Server, database: str) -> None:
        self.engine = make_engine(server.url, isolation_level="AUTOCOMMIT")
        self.connection = self.engine.connect()
        self.pid = int(self.connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
        self.database = database
        self.waited = 0.0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def cpu_seconds(self) -> float:
        fields = _stat(self.pid)
        return _cpu_seconds(fields, children=False) if fields else 0.0

    def _sample(self) -> None:
        query = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = :database AND wait_event_type = 'Lock'"
        )
        last = time.perf_counter()
        while not self.stopping.wait(SAMPLE_SECONDS):
            waiting = self.connection.execute(query, {"database": self.database}).scalar_one()
            moment = time.perf_counter()
            self.waited += waiting * (moment - last)
            last = moment

    def __enter__(self) -> _LockSampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join()
        self.connection.close()
        self.engine.dispose()


def _prepared(url: str, queued: int) -> None:
    engine = seed(url, queued)
    with engine.begin() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
    # The seeding's aftermath (analysing the new tables, writing their pages out) is
    # done now rather than by the server's background processes during the run.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
        connection.execute(text("CHECKPOINT"))
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
        f"  {growth[query]:+.3f} ms a message: {' '.join(query.split())[:110]}" for query in worst
    ]


@dataclass
class _Result:
    statements: dict[str, tuple[float, int]]
    sent: int
    elapsed: float
    # The server's processor time over the run, and the backends' summed lock waits.
    cpu_seconds: float
    lock_seconds: float

    @property
    def exec_ms(self) -> float:
        return sum(spent for spent, _ in self.statements.values())

    @property
    def calls(self) -> int:
        return sum(count for _, count in self.statements.values())

    @property
    def transactions(self) -> int:
        return sum(count for query, (_, count) in self.statements.items() if query == "COMMIT")

    def per_message(self, milliseconds: float) -> float:
        return milliseconds / max(self.sent, 1)


def _run(server: _Server, sink_port: int, senders: int, queued: int) -> _Result:
    name = f"bench_senders_{senders}_{queued}"
    url = server.database(name)
    _prepared(url, queued)
    server.settle(name)
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
    with _LockSampler(server, name) as sampler:
        sampler_before = sampler.cpu_seconds()
        cpu_before = server.cpu_seconds()
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
        server.settle(name)
        cpu = server.cpu_seconds() - cpu_before - (sampler.cpu_seconds() - sampler_before)
    statements, sent = _database_time(url)
    return _Result(statements, sent, elapsed, cpu, sampler.waited)


def _ratio(one: float, four: float) -> float:
    return four / one if one > 0 else float("inf")


def run() -> list[str]:
    if shutil.which("pg_ctl") is None or shutil.which("initdb") is None:
        return ["skipped: PostgreSQL's server programs (pg_ctl, initdb) are not installed"]
    server = _Server()
    lines = [
        f"{MESSAGES:,} campaign messages per run, demo inventory, PostgreSQL 15 "
        "(pg_stat_statements), one loopback sink. Per message: the server's CPU time beyond "
        "what the same senders cost on an empty queue (judged), its whole CPU time, the time "
        "inside statements (exec) and the backends' lock waits"
    ]
    results: dict[int, _Result] = {}
    marginal: dict[int, float] = {}
    try:
        with sink_process() as port:
            for senders in SENDERS:
                idle = _run(server, port, senders, 0)
                result = results[senders] = _run(server, port, senders, MESSAGES)
                marginal[senders] = result.per_message(
                    (result.cpu_seconds - idle.cpu_seconds) * 1000
                )
                lines.append(
                    f"{senders} sender{'s' if senders > 1 else ' '}: {result.sent:,} sent in "
                    f"{result.elapsed:,.1f} s; CPU {marginal[senders]:.3f} ms per message "
                    f"({result.cpu_seconds * 1000:,.0f} ms in all, "
                    f"{idle.cpu_seconds * 1000:,.0f} of them on an empty queue: "
                    f"{result.per_message(result.cpu_seconds * 1000):.3f} ms per message); "
                    f"exec {result.per_message(result.exec_ms):.3f} ms per message "
                    f"({result.exec_ms:,.0f} ms); "
                    f"{result.calls / max(result.sent, 1):.1f} statements and "
                    f"{result.transactions / max(result.sent, 1):.2f} transactions per message; "
                    f"lock waits {result.per_message(result.lock_seconds * 1000):.3f} ms "
                    "per message"
                )
    finally:
        server.stop()
    one, four = results[1], results[4]
    cpu_ratio = _ratio(marginal[1], marginal[4])
    whole_ratio = _ratio(one.per_message(one.cpu_seconds), four.per_message(four.cpu_seconds))
    exec_ratio = _ratio(one.per_message(one.exec_ms), four.per_message(four.exec_ms))
    verdict = "meets" if cpu_ratio <= TARGET else "misses"
    lines.append(
        f"ratio 4 senders / 1 sender: CPU {cpu_ratio:.2f} ({verdict} the {TARGET} target); "
        f"whole CPU {whole_ratio:.2f}; exec {exec_ratio:.2f} (waits for locks and for a "
        "core included)"
    )
    lines.append(
        f"one PostgreSQL core sustains about {1000 / marginal[1]:,.0f} messages a second "
        f"at the 1-sender CPU cost ({1000 / marginal[4]:,.0f} at the 4-sender cost)"
    )
    lines.append("the statements whose exec time grew most from 1 to 4 senders:")
    lines += _grown(one.statements, one.sent, four.statements, four.sent)
    return lines
