"""The sender as a process: killed mid-batch it loses nothing; SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from app.demo.sink import LoopbackSink
from app.sender import run_sender
from data.models import MessageStatus
from tests.clock_moves import let_clock_run
from tests.sending_world import enqueue, messages, relay_options, statuses, world

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2


@pytest.fixture
def live_clock():
    # Leases expire in real time here, so the clock must move.
    let_clock_run()


def start_sender(database_url: str, sink: LoopbackSink) -> subprocess.Popen:
    environment = dict(os.environ, MAILPOOLS_DATABASE_URL=database_url)
    environment.pop("MAILPOOLS_NOW", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "sender",
            "--relay",
            f"127.0.0.1:{sink.port}",
            "--lease",
            str(LEASE_SECONDS),
            "--batch",
            "200",
            "--quiet",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the sender made no progress in time")
        time.sleep(0.02)


async def test_a_worker_killed_mid_batch_loses_no_message(engine, database_url, live_clock):
    world(engine)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=2_000)
    ids = {message.message_id for message in messages(engine)}
    with LoopbackSink() as sink:
        worker = start_sender(database_url, sink)
        try:
            wait_for(lambda: sink.handler.received() >= 300)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        leased_at_kill = statuses(engine)[MessageStatus.SENDING]
        assert leased_at_kill > 0, "the worker was not mid-batch when it was killed"
        time.sleep(LEASE_SECONDS + 0.5)
        stats = await run_sender(engine, relay_options(sink))
        assert stats.reclaimed >= leased_at_kill
        delivered = Counter(d.message_id for d in sink.handler.snapshot())
    assert statuses(engine) == {MessageStatus.SENT: 2_000}
    assert set(delivered) == ids
    # At least once: only messages in flight at the kill can have gone out twice.
    duplicates = sum(count - 1 for count in delivered.values())
    assert duplicates <= leased_at_kill


async def test_sigterm_finishes_or_releases_in_flight_messages(engine, database_url, live_clock):
    world(engine)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=3_000)
    with LoopbackSink() as sink:
        worker = start_sender(database_url, sink)
        wait_for(lambda: sink.handler.received() >= 300)
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=30)
        assert worker.returncode == 0, errors
        delivered = Counter(d.message_id for d in sink.handler.snapshot())
    counts = statuses(engine)
    # Nothing is left leased; every message is either sent or back in the queue, exactly once.
    assert MessageStatus.SENDING not in counts
    assert counts[MessageStatus.SENT] == len(delivered) == sum(delivered.values())
    assert counts[MessageStatus.SENT] + counts[MessageStatus.QUEUED] == 3_000
    assert counts[MessageStatus.QUEUED] > 0


async def test_a_slow_delivery_renews_its_lease_so_no_other_worker_takes_it(engine, live_clock):
    world(engine)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr="stall@dest.test")
    lease = 2.4
    # Wide margins, so a loaded machine cannot make this pass or fail by luck: the
    # lease is renewed every 0.8 s, the other worker comes one and a half leases after
    # the delivery began, and the delivery still has seconds to go when it does.
    with LoopbackSink(stall_seconds=10) as slow:
        patient = relay_options(slow, worker_id="patient", lease_seconds=lease, smtp_timeout=30)

        async def another_worker_once_the_first_lease_is_over():
            while slow.handler.connections == 0:
                await asyncio.sleep(0.05)
            await asyncio.sleep(lease * 1.5)
            return await run_sender(engine, relay_options(slow, worker_id="other"))

        first, other = await asyncio.gather(
            run_sender(engine, patient), another_worker_once_the_first_lease_is_over()
        )
        assert slow.handler.received() == 1
    assert first.sent == 1
    assert other.claimed == 0 and other.reclaimed == 0
