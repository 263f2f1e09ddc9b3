"""SMTP submission into the queue against a bare aiosmtpd server that only counts, side by side.

The same client (aiosmtplib: 4 connections, each STARTTLS then AUTH PLAIN,
then its share of 10,000 messages of about 2 KB, each to a recipient of its own) sends
to `mailpools submit` (its own process, on SQLite), which checks the login's
secret, parses and checks every message, and queues it with its content in
one transaction, and to a bare aiosmtpd server (its own process) with the
same STARTTLS and AUTH that only counts. The bare server runs before and
after, and the ratio uses their mean, to damp a noisy shared machine.
Target: submission reaches at least 0.5 of the bare server's messages per second.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiosmtplib
from sqlalchemy import func, select

from app.services.auth import get_user
from app.services.credentials import create_credential
from app.submission.certificate import self_signed_files
from bench._sending_setup import DEMO_INVENTORY, ROOT, SENDER_ADDRESS, SENDER_OWNER
from data.db import make_engine, session_scope, upgrade
from data.models import Message

MESSAGES = int(os.environ.get("MAILPOOLS_BENCH_MESSAGES", "10000"))
CONNECTIONS = 4
PARAGRAPH = (
    "Our winter sale starts today: everything in the shop is a third off until Sunday, "
    "and delivery is free on orders over fifty euros.\r\n"
)
MESSAGE = (
    f"From: Bolt Deals <{SENDER_ADDRESS}>\r\n"
    "To: reader@sink.test\r\n"
    "Subject: Winter sale\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n" + PARAGRAPH * 15
).encode()


@contextmanager
def _server(command: list[str], environment: dict[str, str]) -> Iterator[tuple[int, list[str]]]:
    """Start a server process that prints its port; yield the port and, afterwards, its output."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    said: list[str] = []
    try:
        line = process.stdout.readline()
        while not line.strip().split(":")[-1].split()[0].isdigit():
            line = process.stdout.readline()
        yield int(line.strip().split(":")[-1].split()[0]), said
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
        said.extend(output.splitlines())


async def _send(port: int, username: str, secret: str) -> float:
    async def connection(lane: int, count: int) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=60)
        await client.connect()
        await client.starttls(validate_certs=False)
        await client.login(username, secret)
        for number in range(count):
            # A campaign's recipients differ, so no server can reuse a parsed address.
            await client.sendmail(SENDER_ADDRESS, [f"reader{lane}-{number}@sink.test"], MESSAGE)
        await client.quit()

    shares = [MESSAGES // CONNECTIONS + (i < MESSAGES % CONNECTIONS) for i in range(CONNECTIONS)]
    started = time.perf_counter()
    await asyncio.gather(*(connection(lane, share) for lane, share in enumerate(shares)))
    return MESSAGES / (time.perf_counter() - started)


def _bare(files) -> float:
    command = [
        sys.executable,
        "-m",
        "bench._counting_server",
        str(files.certificate),
        str(files.key),
    ]
    with _server(command, {}) as (port, said):
        rate = asyncio.run(_send(port, "anyone", "anything"))
    assert said and int(said[-1]) == MESSAGES, f"the counting server saw {said}"
    return rate


def _submission(directory: Path, files) -> tuple[float, int]:
    url = f"sqlite:///{directory}/bench.db"
    upgrade(url)
    engine = make_engine(url)
    from app.services.inventory import apply_inventory, load_file

    with session_scope(engine) as session:
        apply_inventory(session, None, load_file(DEMO_INVENTORY))
    with session_scope(engine) as session:
        created = create_credential(session, get_user(session, SENDER_OWNER), kind="campaign")
    login = created.subject.credential.username, created.subject.secret
    command = [
        sys.executable,
        "-m",
        "app.cli",
        "submit",
        "--port",
        "0",
        "--tls-cert",
        str(files.certificate),
        "--tls-key",
        str(files.key),
    ]
    with _server(command, {"MAILPOOLS_DATABASE_URL": url}) as (port, _):
        rate = asyncio.run(_send(port, *login))
    with session_scope(engine) as session:
        queued = session.execute(select(func.count()).select_from(Message)).scalar_one()
    engine.dispose()
    return rate, queued


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="mailpools-bench-") as name:
        directory = Path(name)
        files = self_signed_files(directory, "127.0.0.1")
        before = _bare(files)
        submission, queued = _submission(directory, files)
        after = _bare(files)
    baseline = (before + after) / 2
    ratio = submission / baseline
    verdict = "meets" if ratio >= 0.5 else "misses"
    return [
        f"{MESSAGES:,} messages of {len(MESSAGE):,} bytes, {CONNECTIONS} connections "
        "(STARTTLS, AUTH PLAIN), SQLite",
        f"bare aiosmtpd that only counts: {before:,.0f} msg/s before, {after:,.0f} msg/s after",
        f"mailpools submit (login, checks, queue with content): {submission:,.0f} msg/s "
        f"({queued:,} queued)",
        f"ratio submission / bare server: {ratio:.2f} ({verdict} the 0.5 target)",
    ]
