"""The sender as a process: killed mid-batch it loses nothing; SIGTERM stops it cleanly;
a database restart leaves it running; leases it lost are given up."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from app import clock
from app.demo.sink import LoopbackSink
from app.sender import run_sender
from app.sender.worker import Sender, SenderOptions
from data.db import make_engine, session_scope, upgrade
from data.models import DomainDailyStat, MessageStatus
from tests import sending_world
from tests.clock_moves import let_clock_run, move_clock
from tests.sending_world import (
    duplicates_by_kill,
    enqueue,
    messages,
    relay_options,
    statuses,
    world,
)

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2
SENDER = "deals@offers.bolt.example"


@pytest.fixture
def live_clock():
    # Leases expire in real time here, so the clock must move.
    let_clock_run()


def start_sender(
    database_url: str, sink: LoopbackSink, *more: str, lease: float = LEASE_SECONDS
) -> subprocess.Popen:
    return sending_world.start_sender(database_url, sink.port, "--lease", str(lease), *more)


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the sender made no progress in time")
        time.sleep(0.02)


@pytest.mark.drill
async def test_a_worker_killed_mid_batch_loses_no_message(engine, database_url, live_clock, drill):
    """The crash drill: kill -9 mid-batch (ten times over 20,000 messages in make drill).
    Nothing is lost, and each kill resends only messages it left leased and at most two
    per connection: a connection sends on only once the message before its last is
    recorded, so the last one and the one on the wire are all a kill can leave."""
    count, kills = (20_000, 10) if drill else (2_000, 1)
    world(engine)
    enqueue(engine, by="bruno", from_addr=SENDER, count=count)
    ids = {message.message_id for message in messages(engine)}
    # Which kill left each message leased: the first kill whose dead sender held it.
    left_by: dict[str, int] = {}
    with LoopbackSink() as sink:
        for kill in range(kills):
            worker = start_sender(database_url, sink)
            mark = sink.handler.received() + count // (kills + 2)
            try:
                wait_for(lambda mark=mark: sink.handler.received() >= mark)
            finally:
                worker.send_signal(signal.SIGKILL)
                worker.wait(10)
            leased_at_kill = messages(engine, status=MessageStatus.SENDING)
            assert leased_at_kill, "the worker was not mid-batch when it was killed"
            for message in leased_at_kill:
                left_by.setdefault(message.message_id, kill)
        # No pause: --until-empty waits for the dead senders' leases to expire.
        stats = await run_sender(engine, relay_options(sink))
        assert stats.reclaimed >= len(leased_at_kill)
        delivered = Counter(d.message_id for d in sink.handler.snapshot())
    assert statuses(engine) == {MessageStatus.SENT: count}
    assert set(delivered) == ids
    duplicates = duplicates_by_kill(delivered, left_by, kills)
    leased = Counter(left_by.values())
    print(f"\ncrash drill: {count:,} messages, {kills} kills")
    for kill in range(kills):
        print(f"  kill {kill + 1}: {leased[kill]} leased, {duplicates[kill]} sent twice")
        assert duplicates[kill] <= 2 * SenderOptions().total_concurrency, duplicates
        assert duplicates[kill] < leased[kill], duplicates


async def test_sigterm_finishes_or_releases_in_flight_messages(engine, database_url, live_clock):
    world(engine)
    # Two messages the server never answers: the stop gives them a short grace, not the
    # whole DATA timeout, and puts them back in the queue.
    enqueue(engine, by="bruno", from_addr=SENDER, to_addr="stall@dest.test", count=2)
    enqueue(engine, by="bruno", from_addr=SENDER, count=3_000)
    with LoopbackSink(stall_seconds=600) as sink:
        worker = start_sender(database_url, sink)
        wait_for(lambda: sink.handler.received() >= 300)
        worker.send_signal(signal.SIGTERM)
        # The DATA timeout (60 s) is twice this limit: only the stop's grace ends it sooner.
        _, errors = worker.communicate(timeout=30)
        assert worker.returncode == 0, errors
        delivered = Counter(d.message_id for d in sink.handler.snapshot())
    counts = statuses(engine)
    # Nothing is left leased; every message is either sent or back in the queue, exactly once.
    assert MessageStatus.SENDING not in counts
    assert counts[MessageStatus.SENT] == len(delivered) == sum(delivered.values())
    assert counts[MessageStatus.SENT] + counts[MessageStatus.QUEUED] == 3_002
    assert counts[MessageStatus.QUEUED] > 0
    assert {m.status for m in messages(engine, to_addr="stall@dest.test")} == {MessageStatus.QUEUED}


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


async def wait_until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the sender made no progress in time")
        await asyncio.sleep(0.02)


async def test_messages_whose_lease_went_to_another_sender_are_neither_sent_nor_recorded(engine):
    world(engine)
    enqueue(engine, by="bruno", from_addr=SENDER, to_addr="stall@dest.test", count=20)
    with LoopbackSink(stall_seconds=600) as sink:
        # One connection per IP, each held in DATA until the release; the rest wait behind.
        options = relay_options(sink, lease_seconds=3, per_ip_concurrency=1, data_timeout=600)
        stop = asyncio.Event()
        sender = Sender(engine, options, stop)
        running = asyncio.create_task(sender.run())
        # Each IP with messages has opened its one connection (and so taken its first message).
        await wait_until(
            lambda: 0 < sender.stats.connections_opened == len({key[0] for key in sender.queues})
        )
        in_flight = sender.stats.connections_opened
        # As if the database had been away past the leases and another sender took them.
        with session_scope(engine) as session:
            session.execute(
                text(
                    "UPDATE messages SET lease_owner = 'other' WHERE status = :sending"
                ).bindparams(sending=MessageStatus.SENDING.value)
            )
        await wait_until(lambda: sender.stats.lost_leases == 20 - in_flight)
        sink.handler.release_stalls()
        # The messages already in DATA go out; their results are dropped, not written
        # over the other sender's lease.
        await wait_until(lambda: sender.stats.lost_leases == 20)
        stop.set()
        await running
        assert sink.handler.received() == in_flight
    for message in messages(engine):
        assert (message.status, message.lease_owner) == (MessageStatus.SENDING, "other")
    with session_scope(engine) as session:
        assert session.exec(select(DomainDailyStat)).all() == []


async def test_until_empty_waits_for_the_messages_a_killed_sender_left_leased(
    engine, database_url, live_clock, caplog
):
    world(engine)
    enqueue(engine, by="bruno", from_addr=SENDER, to_addr="stall@dest.test", count=30)
    with LoopbackSink(stall_seconds=600) as sink:
        worker = start_sender(database_url, sink, lease=3)
        try:
            # Every message is claimed, and the first ones sit in DATA.
            wait_for(
                lambda: (
                    statuses(engine)[MessageStatus.SENDING] == 30 and sink.handler.connections > 0
                )
            )
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        sink.handler.release_stalls()
        # Nothing is due, but the dead sender's messages are not done: wait for them.
        stats = await run_sender(engine, relay_options(sink))
    assert "30 messages are leased to other senders; waiting for them" in caplog.text
    assert stats.reclaimed == 30
    assert statuses(engine) == {MessageStatus.SENT: 30}


@pytest.mark.drill
async def test_a_database_restart_mid_run_leaves_the_sender_up_and_sends_each_message_once(
    private_postgres, live_clock, drill
):
    count, lease, outages = (20_000, 5, 3) if drill else (800, 3, 1)
    upgrade(private_postgres.url)
    engine = make_engine(private_postgres.url)
    world(engine)
    enqueue(engine, by="bruno", from_addr=SENDER, count=count)
    ids = {message.message_id for message in messages(engine)}
    with LoopbackSink() as sink:
        worker = start_sender(private_postgres.url, sink, "--until-empty", lease=lease)
        try:
            for outage in range(outages):
                mark = count * (outage + 1) // (outages + 2)
                wait_for(lambda mark=mark: sink.handler.received() >= mark)
                private_postgres.control("pause")
                # Down for longer than a lease: the leases in hand run out meanwhile.
                time.sleep(lease + 1)
                assert worker.poll() is None, "the sender exited during the outage"
                private_postgres.control("resume")
            _, errors = worker.communicate(timeout=600)
        finally:
            if worker.poll() is None:
                worker.kill()
        delivered = Counter(d.message_id for d in sink.handler.snapshot())
    engine.dispose()
    assert worker.returncode == 0, errors
    assert "failed" in errors and "works again" in errors
    assert set(delivered) == ids
    # Nothing was in flight when the database went away: no other sender ran, so
    # the sender renewed its own leases once the database was back, and sent each once.
    assert max(delivered.values()) == 1
    assert statuses(make_engine(private_postgres.url)) == {MessageStatus.SENT: count}


async def test_back_from_an_outage_a_sender_leaves_others_expired_leases_for_a_lease(
    private_postgres, caplog
):
    """An outage lets every lease run out, a live sender's too. Back, a sender takes none
    of another's expired leases for one lease, so the other can renew them first; a dead
    sender's messages are taken after that."""
    upgrade(private_postgres.url)
    engine = make_engine(private_postgres.url)
    try:
        world(engine)
        enqueue(engine, by="bruno", from_addr=SENDER, count=10)
        # Another sender holds them all, leased for a minute.
        with session_scope(engine) as session:
            session.execute(
                text(
                    "UPDATE messages SET status = :sending, lease_owner = 'other', "
                    "lease_expires_at = :until"
                ),
                {
                    "sending": MessageStatus.SENDING.value,
                    "until": clock.now() + timedelta(minutes=1),
                },
            )
        with LoopbackSink() as sink:
            stop = asyncio.Event()
            options = relay_options(sink, until_empty=False, lease_seconds=15)
            running = asyncio.create_task(run_sender(engine, options, stop))
            try:
                # Announced: from here on every database touch retries.
                await wait_until(lambda: running.done() or announced(engine))
                assert not running.done(), "the sender stopped at start"
                private_postgres.control("pause")
                await wait_until(lambda: "claiming messages failed" in caplog.text)
                # The outage outlasts the other sender's lease.
                move_clock(clock.now() + timedelta(minutes=2))
                private_postgres.control("resume")
                await wait_until(lambda: "claiming messages works again" in caplog.text)
                assert {m.lease_owner for m in messages(engine)} == {"other"}
                assert sink.handler.received() == 0
                # Nobody renews them: the other sender is gone. A lease later they are sent.
                await wait_until(lambda: sink.handler.received() == 10)
            finally:
                stop.set()
                stats = await running
        assert stats.reclaimed == 10
        assert statuses(engine) == {MessageStatus.SENT: 10}
    finally:
        engine.dispose()


def announced(engine) -> bool:
    with session_scope(engine) as session:
        return session.execute(text("SELECT count(*) FROM sender_hosts")).scalar_one() > 0
