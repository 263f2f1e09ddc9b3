"""Several senders share one PostgreSQL queue, each sending only from its own IPs.

One machine stands in for several hosts: each process is given its share of
the pool IPs with --ips. Every pool IP is a 127.0.0.x address, so the sink sees
the source address each message really left from.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from app import clock
from app.demo.sink import LoopbackSink
from app.sender import run_sender, store
from app.services import pools, senders
from data.db import make_engine, session_scope
from data.models import MessageStatus
from tests.clock_moves import let_clock_run
from tests.conftest import postgres_database
from tests.factories import user
from tests.sending_world import enqueue, make_transactional, relay_options, statuses, world

ROOT = Path(__file__).resolve().parents[2]
# Each pool's two IPs split between two hosts.
HOST_A = ("127.0.0.2", "127.0.0.4", "127.0.0.6")
HOST_B = ("127.0.0.3", "127.0.0.5", "127.0.0.7")
CLAIMED = re.compile(r"claimed (\d+)")


@pytest.fixture
def postgres_url(reused_databases):
    with postgres_database(reused_databases) as url:
        yield url


@pytest.fixture
def postgres_engine(postgres_url):
    let_clock_run()
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def fill_queue(engine, count: int) -> None:
    """COUNT messages spread over both shared pools and the transactional one."""
    world(engine)
    make_transactional(engine, "acme.example")
    share = count // 4
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=share)
    enqueue(engine, by="alice", from_addr="news@news.acme.example", count=share)
    enqueue(engine, by="carla", from_addr="hello@corvid.example", count=share)
    enqueue(
        engine,
        by="alice",
        from_addr="reset@acme.example",
        kind="transactional",
        count=count - 3 * share,
    )


def start_sender(database_url: str, sink: LoopbackSink, ips: tuple[str, ...]) -> subprocess.Popen:
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
            "--batch",
            "200",
            "--quiet",
            "--ips",
            *ips,
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_senders(database_url: str, sink: LoopbackSink, hosts: list[tuple[str, ...]], count: int):
    """Run one sender per entry of HOSTS until the sink has COUNT messages; return how many
    messages each claimed."""
    workers = [start_sender(database_url, sink, ips) for ips in hosts]
    try:
        # A guard against a hang, not a measure: the machine may be slow.
        deadline = time.monotonic() + 900
        while sink.handler.received() < count:
            assert all(w.poll() is None for w in workers), "a sender stopped by itself"
            assert time.monotonic() < deadline, "the senders made no progress in time"
            time.sleep(0.05)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
    claims = []
    for worker in workers:
        output, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors
        claims.append(int(CLAIMED.search(output).group(1)))
    return claims


def routed_addresses(engine) -> dict[str, tuple[str, str]]:
    """Message-ID -> (the address it was routed to, the address it was recorded as sent from)."""
    with session_scope(engine) as session:
        rows = session.execute(
            text(
                "SELECT m.message_id, routed.address, sent.address FROM messages m "
                "JOIN ip_addresses routed ON routed.id = m.routed_ip_id "
                "JOIN ip_addresses sent ON sent.id = m.ip_id"
            )
        ).all()
    return {message_id: (routed, sent) for message_id, routed, sent in rows}


@pytest.mark.drill
def test_two_hosts_send_each_message_once_from_its_routed_ip(postgres_engine, postgres_url, drill):
    count = 10_000 if drill else 1_000
    fill_queue(postgres_engine, count)
    with LoopbackSink() as sink:
        claims = run_senders(postgres_url, sink, [HOST_A, HOST_B], count)
        deliveries = sink.handler.snapshot()
    delivered = Counter(d.message_id for d in deliveries)
    routes = routed_addresses(postgres_engine)
    assert statuses(postgres_engine) == {MessageStatus.SENT: count}
    assert len(delivered) == count and max(delivered.values()) == 1, "a message went twice"
    for delivery in deliveries:
        routed, sent = routes[delivery.message_id]
        assert delivery.peer_ip == routed == sent
    # Each host sent from its own IPs only, and every IP of both hosts had mail.
    by_peer = Counter(d.peer_ip for d in deliveries)
    assert set(by_peer) == set(HOST_A + HOST_B)
    assert sum(claims) <= 1.05 * count
    print(
        f"\ntwo hosts: {count:,} messages, {sum(claims):,} claims "
        f"({sum(claims) / count:.3f} a message), claims per host {claims}, 0 duplicates"
    )


def test_four_senders_lose_no_stats_update(postgres_engine, postgres_url):
    """Two processes on each host write the same days' counters at once: the daily stats
    agree with what the sink received, per domain and per IP."""
    count = 1_000
    fill_queue(postgres_engine, count)
    with LoopbackSink() as sink:
        claims = run_senders(postgres_url, sink, [HOST_A, HOST_A, HOST_B, HOST_B], count)
        deliveries = sink.handler.snapshot()
    assert sum(claims) == count
    by_peer = Counter(d.peer_ip for d in deliveries)
    by_domain = Counter(d.message_id.rsplit("@", 1)[1].rstrip(">") for d in deliveries)
    with session_scope(postgres_engine) as session:
        ip_sent = dict(
            session.execute(
                text(
                    "SELECT i.address, sum(s.sent) FROM ip_daily_stats s "
                    "JOIN ip_addresses i ON i.id = s.ip_id GROUP BY i.address"
                )
            ).all()
        )
        domain_sent = dict(
            session.execute(
                text(
                    "SELECT d.name, sum(s.sent) FROM domain_daily_stats s "
                    "JOIN domains d ON d.id = s.domain_id GROUP BY d.name"
                )
            ).all()
        )
        shards = set(session.execute(text("SELECT shard FROM domain_daily_stats")).scalars())
    assert len(deliveries) == count
    # Each sender that sent added to rows of its own, so none waited for another's.
    assert shards <= {1, 2, 3, 4} and len(shards) == sum(1 for claimed in claims if claimed)
    assert ip_sent == dict(by_peer)
    assert domain_sent == dict(by_domain)


async def test_a_draining_sender_finishes_what_it_holds_and_claims_nothing_more(engine):
    world(engine)
    count = 3_000
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=count)
    with LoopbackSink() as sink:
        options = relay_options(sink, until_empty=False, heartbeat_seconds=0.1, batch_size=200)
        running = asyncio.create_task(run_sender(engine, options))
        while sink.handler.received() < 50:
            assert not running.done(), "the sender stopped by itself"
            await asyncio.sleep(0.02)
        with session_scope(engine) as session:
            draining = senders.drain(session, user(session, "sam"), options.hostname)
        assert draining == [options.worker_id]
        stats = await running
        received = sink.handler.received()
    assert stats.drained and stats.released == 0
    counts = statuses(engine)
    # What it held went out; what it had not claimed waits in the queue, untouched.
    assert MessageStatus.SENDING not in counts
    assert counts[MessageStatus.SENT] == stats.claimed == received
    assert counts[MessageStatus.QUEUED] == count - stats.claimed > 0
    with session_scope(engine) as session:
        assert senders.running_senders(session, user(session, "sam")) == []
        assert senders.still_running(session, draining) == []


def test_mail_waiting_for_an_ip_that_leaves_rotation_is_routed_again(engine):
    """A host with 127.0.0.3 leaves 127.0.0.2's share; once 127.0.0.2 is paused, that mail
    goes to 127.0.0.3 at the next claim instead of waiting for a host that has it."""
    world(engine)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=60)
    own = frozenset({"127.0.0.3"})

    def claim(worker_id: str):
        return store.claim_batch(
            engine,
            worker_id=worker_id,
            size=100,
            now=clock.now(),
            lease=timedelta(minutes=5),
            unbound_addresses=frozenset(),
            own_addresses=own,
        )

    first = claim("mx3:1")
    assert first.messages and first.handed_over
    assert len(first.messages) + first.handed_over == 60
    assert claim("mx3:1").messages == []
    with session_scope(engine) as session:
        pools.pause_ip(session, user(session, "sam"), "127.0.0.2")
    again = claim("mx3:1")
    assert len(again.messages) == first.handed_over and again.handed_over == 0
    with session_scope(engine) as session:
        routed = session.execute(
            text(
                "SELECT DISTINCT i.address FROM messages m "
                "JOIN ip_addresses i ON i.id = m.routed_ip_id"
            )
        ).scalars()
        assert set(routed) == own


def test_each_running_sender_has_a_stats_shard_of_its_own(engine):
    now = clock.now()
    first, second = (
        store.announce(
            engine, worker_id=worker, hostname="mx", addresses=frozenset(), now=now
        ).shard
        for worker in ("mx:1", "mx:2")
    )
    assert (first, second) == (1, 2)
    again = store.announce(engine, worker_id="mx:1", hostname="mx", addresses=frozenset(), now=now)
    assert again.shard == 1
    store.withdraw(engine, worker_id="mx:1")
    third = store.announce(engine, worker_id="mx:3", hostname="mx", addresses=frozenset(), now=now)
    assert third.shard == 1


def test_one_sender_at_a_time_takes_a_periodic_task(engine):
    now = clock.now()
    every = timedelta(hours=1)
    assert store.take_upkeep_turn(engine, name="checks", now=now, every=every)
    assert not store.take_upkeep_turn(engine, name="checks", now=now, every=every)
    assert not store.take_upkeep_turn(engine, name="checks", now=now + every / 2, every=every)
    assert store.take_upkeep_turn(engine, name="other", now=now, every=every)
    assert store.take_upkeep_turn(engine, name="checks", now=now + every, every=every)
