"""Several senders share one PostgreSQL queue, each sending only from its own IPs.

One machine stands in for several hosts: each process is given its share of
the pool IPs with --ips. Every pool IP is a 127.0.0.x address, so the sink sees
the source address each message really left from.
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from app import clock
from app.demo.sink import LoopbackSink
from app.sender import SenderOptions, run_sender, store
from app.services import pools, senders
from data.db import make_engine, session_scope, upgrade
from data.models import MessageStatus
from tests import sending_world
from tests.clock_moves import let_clock_run
from tests.conftest import postgres_database
from tests.factories import user
from tests.sending_world import (
    duplicates_by_kill,
    enqueue,
    make_transactional,
    relay_options,
    statuses,
    world,
)

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


def start_sender(
    database_url: str, sink: LoopbackSink, ips: tuple[str, ...], *more: str
) -> subprocess.Popen:
    return sending_world.start_sender(database_url, sink.port, "--ips", *ips, *more)


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


async def _drained_mid_run(engine, count: int, heartbeat_seconds: float):
    """Run a sender over COUNT queued messages and drain its host once 50 have arrived;
    its stats, the messages the sink received and the senders the drain named."""
    world(engine)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=count)
    with LoopbackSink() as sink:
        options = relay_options(
            sink, until_empty=False, heartbeat_seconds=heartbeat_seconds, batch_size=200
        )
        running = asyncio.create_task(run_sender(engine, options))
        while sink.handler.received() < 50:
            assert not running.done(), "the sender stopped by itself"
            await asyncio.sleep(0.02)
        with session_scope(engine) as session:
            draining = senders.drain(session, user(session, "sam"), options.hostname)
        assert draining == [options.worker_id]
        # A guard against a hang, not a measure.
        stats = await asyncio.wait_for(running, 300)
        return stats, sink.handler.received(), draining


async def test_a_draining_sender_finishes_what_it_holds_and_claims_nothing_more(engine):
    count = 3_000
    stats, received, draining = await _drained_mid_run(engine, count, heartbeat_seconds=0.1)
    assert stats.drained and stats.released == 0
    counts = statuses(engine)
    # What it held went out; what it had not claimed waits in the queue, untouched.
    assert MessageStatus.SENDING not in counts
    assert counts[MessageStatus.SENT] == stats.claimed == received
    assert counts[MessageStatus.QUEUED] == count - stats.claimed > 0
    with session_scope(engine) as session:
        assert senders.running_senders(session, user(session, "sam")) == []
        assert senders.still_running(session, draining) == []


async def test_a_drain_is_noticed_at_the_next_claim_not_the_next_heartbeat(engine):
    count = 3_000
    # No heartbeat for an hour: only the claims can tell it (the guard stops at 300 s).
    stats, _, _ = await _drained_mid_run(engine, count, heartbeat_seconds=3600)
    assert stats.drained and stats.released == 0
    counts = statuses(engine)
    assert MessageStatus.SENDING not in counts
    assert counts[MessageStatus.SENT] == stats.claimed
    assert counts[MessageStatus.QUEUED] == count - stats.claimed > 0


async def test_until_empty_waits_while_another_senders_claim_holds_due_messages(
    postgres_engine, caplog
):
    """On PostgreSQL a claim skips the rows another claim has locked. A sender that took
    an empty claim for an empty queue would exit while that claim might still leave the
    messages (or, with split IPs, hand them over to it): it waits for the outcome."""
    world(postgres_engine)
    enqueue(postgres_engine, by="bruno", from_addr="deals@offers.bolt.example", count=20)
    with postgres_engine.connect() as other:
        # Another sender's claim, under way: the due rows are locked, nothing committed.
        claim = other.begin()
        other.execute(text("SELECT id FROM messages WHERE status = 'queued' FOR UPDATE"))
        with LoopbackSink() as sink:
            running = asyncio.create_task(run_sender(postgres_engine, relay_options(sink)))
            while "being claimed by other senders" not in caplog.text and not running.done():
                await asyncio.sleep(0.02)
            # That claim comes to nothing (its sender died): the messages are still due.
            claim.rollback()
            stats = await running
    assert stats.sent == 20
    assert statuses(postgres_engine) == {MessageStatus.SENT: 20}


async def test_until_empty_leaves_the_mail_another_host_holds_to_it(engine):
    """Messages another host holds leased for its own IPs could never leave from this
    one: an --until-empty sender does not wait for them."""
    world(engine)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=40)
    # The other host claims: it leases for an hour what is routed to its IPs, and hands
    # the rest over to this one.
    other = store.claim_batch(
        engine,
        worker_id="mx-b:1",
        size=100,
        now=clock.now(),
        lease=timedelta(hours=1),
        unbound_addresses=frozenset(),
        own_addresses=frozenset(HOST_B),
    )
    assert other.messages and other.handed_over
    with LoopbackSink() as sink:
        options = relay_options(sink, ips=frozenset(HOST_A))
        # A guard against a hang, not a measure: without the fix it waits the hour.
        stats = await asyncio.wait_for(run_sender(engine, options), 300)
        assert {d.peer_ip for d in sink.handler.snapshot()} <= set(HOST_A)
    assert stats.sent == other.handed_over
    assert statuses(engine) == {
        MessageStatus.SENT: other.handed_over,
        MessageStatus.SENDING: len(other.messages),
    }


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


# The drills' lease: short, so a killed sender's messages come back soon, yet three
# renewals long on a loaded machine.
DRILL_LEASE = 3


def wait_for(condition, what: str, seconds: float = 900) -> None:
    # A guard against a hang, not a measure: the machine may be slow.
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: no progress in time"
        time.sleep(0.05)


def leased_by_process(engine, pid: int) -> list[str]:
    """The Message-IDs leased to the sender process PID (worker ids are host:pid:random)."""
    with session_scope(engine) as session:
        return list(
            session.execute(
                text(
                    "SELECT message_id FROM messages WHERE status = :sending "
                    "AND lease_owner LIKE :owner"
                ),
                {"sending": MessageStatus.SENDING.value, "owner": f"%:{pid}:%"},
            ).scalars()
        )


def announced_by_process(engine, pid: int) -> bool:
    """Whether the sender running as process PID has announced itself."""
    with session_scope(engine) as session:
        return bool(
            session.execute(
                text("SELECT count(*) FROM sender_hosts WHERE worker_id LIKE :worker"),
                {"worker": f"%:{pid}:%"},
            ).scalar_one()
        )


def check_routes(engine, deliveries) -> None:
    """Every delivery left from the IP its message was routed to, as the sink saw it."""
    routes = routed_addresses(engine)
    for delivery in deliveries:
        routed, sent = routes[delivery.message_id]
        assert delivery.peer_ip == routed == sent


@pytest.mark.drill
def test_two_hosts_killed_again_and_again_lose_no_message(postgres_engine, postgres_url, drill):
    """The crash drill with two hosts: kill -9 one of them at a random moment (10 times
    over 10,000 messages in make drill), restarting it each time. Nothing is lost, and
    only a message a killed sender held leased can arrive twice: at most two per
    connection it had open (see app/sender/worker.py)."""
    count, kills = (10_000, 10) if drill else (1_000, 2)
    seed = random.randrange(2**32)
    chance = random.Random(seed)
    fill_queue(postgres_engine, count)
    with session_scope(postgres_engine) as session:
        ids = set(session.execute(text("SELECT message_id FROM messages")).scalars())
    hosts = [HOST_A, HOST_B]
    lease = ("--lease", str(DRILL_LEASE))
    # Which kill left each message leased: the first kill whose dead sender held it.
    left_by: dict[str, int] = {}
    victims: list[int] = []
    with LoopbackSink() as sink:
        workers = [start_sender(postgres_url, sink, ips, *lease) for ips in hosts]
        try:
            for kill in range(kills):
                # A random moment in this kill's share of the run, from a random host.
                mark = chance.randint(
                    count * kill // (kills + 1), count * (kill + 1) // (kills + 1)
                )
                wait_for(lambda mark=mark: sink.handler.received() >= mark, "sending")
                victim = chance.randrange(len(hosts))
                assert workers[victim].poll() is None, "a sender stopped by itself"
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait(10)
                for message_id in leased_by_process(postgres_engine, workers[victim].pid):
                    left_by.setdefault(message_id, kill)
                victims.append(victim)
                workers[victim] = start_sender(postgres_url, sink, hosts[victim], *lease)
                # Started, not only spawned: a SIGTERM at the end of the run must find it
                # stopping cleanly, not still importing (which a signal ends with -15).
                pid = workers[victim].pid
                wait_for(lambda pid=pid: announced_by_process(postgres_engine, pid), "starting")
            # The dead senders' leases expire, and the host that owns their IPs takes them.
            wait_for(lambda: statuses(postgres_engine) == {MessageStatus.SENT: count}, "finishing")
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            _, errors = worker.communicate(timeout=120)
            assert worker.returncode == 0, errors
        deliveries = sink.handler.snapshot()
    delivered = Counter(d.message_id for d in deliveries)
    assert set(delivered) == ids
    check_routes(postgres_engine, deliveries)
    duplicates = duplicates_by_kill(delivered, left_by, kills)
    leased = Counter(left_by.values())
    print(f"\ntwo-host crash drill: {count:,} messages, {kills} kills (seed {seed})")
    for kill in range(kills):
        print(
            f"  kill {kill + 1} (host {'AB'[victims[kill]]}): {leased[kill]} leased, "
            f"{duplicates[kill]} sent twice"
        )
        assert duplicates[kill] <= min(leased[kill], 2 * SenderOptions().total_concurrency)
    print(
        f"  in all: {sum(leased.values())} leased at a kill, {sum(duplicates.values())} sent twice"
    )


@pytest.mark.drill
def test_two_hosts_ride_out_a_database_restart_and_send_each_message_once(private_postgres, drill):
    """PostgreSQL stops mid-run for longer than a lease and starts again: both senders
    stay up, reconnect by themselves, finish the queue and exit (--until-empty), and
    no message arrives twice, though each held leases that ran out meanwhile."""
    let_clock_run()
    count = 10_000 if drill else 1_000
    upgrade(private_postgres.url)
    engine = make_engine(private_postgres.url)
    try:
        fill_queue(engine, count)
        with session_scope(engine) as session:
            ids = set(session.execute(text("SELECT message_id FROM messages")).scalars())
        with LoopbackSink() as sink:
            workers = [
                start_sender(
                    private_postgres.url, sink, ips, "--until-empty", "--lease", str(DRILL_LEASE)
                )
                for ips in (HOST_A, HOST_B)
            ]
            try:
                wait_for(lambda: sink.handler.received() >= count // 3, "sending")
                leased = statuses(engine)[MessageStatus.SENDING]
                private_postgres.control("pause")
                # Down for longer than a lease: the leases in hand run out meanwhile.
                time.sleep(DRILL_LEASE + 2)
                assert all(w.poll() is None for w in workers), "a sender exited in the outage"
                private_postgres.control("resume")
                outputs = [worker.communicate(timeout=900) for worker in workers]
            finally:
                for worker in workers:
                    if worker.poll() is None:
                        worker.kill()
                        worker.wait(10)
            deliveries = sink.handler.snapshot()
        for worker, (_, errors) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, errors
            assert "failed" in errors and "works again" in errors
        delivered = Counter(d.message_id for d in deliveries)
        assert set(delivered) == ids
        assert statuses(engine) == {MessageStatus.SENT: count}
        assert max(delivered.values()) == 1, [m for m, n in delivered.items() if n > 1][:5]
        check_routes(engine, deliveries)
    finally:
        engine.dispose()
    print(
        f"\ntwo-host restart drill: {count:,} messages, PostgreSQL stopped once for "
        f"{DRILL_LEASE + 2} s with about {leased} messages leased, 0 twice"
    )


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
