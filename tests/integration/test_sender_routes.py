"""End to end: the loopback sink sees each message arrive from the IP its route chose.

Every pool IP is a 127.0.0.x address, so the peer address of each SMTP
connection at the sink is the source address the sender bound.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import select

from app import clock
from app.demo.sink import LoopbackSink
from app.errors import MailpoolsError
from app.rules.routing import choose_ip, goes_to_dedicated, usable_ips
from app.rules.warmup_plan import dedicated_share
from app.sender import run_sender
from app.sender.store import load_routing_state
from app.services import pools, senders
from data.db import session_scope
from data.models import (
    AuditEvent,
    DomainDailyStat,
    IpAddress,
    IpDailyStat,
    MessageStatus,
    WarmupState,
)
from tests.clock_moves import move_clock
from tests.factories import day_totals, user
from tests.sending_world import (
    domain,
    enqueue,
    make_dedicated,
    make_transactional,
    messages,
    relay_options,
    set_warmup,
    statuses,
    warmup_of,
    world,
)


@pytest.fixture
def sink():
    with LoopbackSink() as running:
        yield running


@pytest.fixture
def sending_world(engine):
    return world(engine)


def arrivals(sink) -> dict[str, tuple[str, str]]:
    """Message-ID -> (peer IP, HELO name) as the sink saw them."""
    return {d.message_id: (d.peer_ip, d.helo) for d in sink.handler.snapshot()}


def pool_state(engine, domain_name):
    with session_scope(engine) as session:
        the_domain = domain(engine, domain_name)
        return load_routing_state(session, [the_domain.id], frozenset()), the_domain


async def test_a_shared_domain_sends_each_message_from_its_weighted_ip(sending_world, sink):
    engine = sending_world
    ids = enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=300)
    stats = await run_sender(engine, relay_options(sink))
    assert stats.sent == 300
    state, the_domain = pool_state(engine, "offers.bolt.example")
    pool = state.pools[the_domain.shared_pool_id]
    seen = arrivals(sink)
    assert set(seen) == set(ids)
    for message_id in ids:
        expected = choose_ip(pool, message_id)
        assert seen[message_id] == (expected.address, expected.hostname)
    assert {peer for peer, _ in seen.values()} == {ip.address for ip in usable_ips(pool)}
    recorded = {m.message_id: (m.pool_id, m.ip_id, m.last_reply[:3]) for m in messages(engine)}
    for message_id in ids:
        assert recorded[message_id] == (pool.id, choose_ip(pool, message_id).id, "250")


async def test_transactional_mail_goes_through_the_transactional_pool(sending_world, sink):
    engine = sending_world
    make_transactional(engine, "acme.example")
    ids = enqueue(
        engine, by="alice", from_addr="receipts@acme.example", kind="transactional", count=40
    )
    await run_sender(engine, relay_options(sink))
    peers = {peer for peer, _ in arrivals(sink).values()}
    assert peers <= {"127.0.0.6", "127.0.0.7"} and peers
    assert set(arrivals(sink)) == set(ids)


async def test_a_campaign_from_a_transactional_domain_is_refused_and_a_queued_one_rejected(
    sending_world, sink
):
    engine = sending_world
    make_transactional(engine, "acme.example")
    with pytest.raises(MailpoolsError, match="transactional pool"):
        enqueue(engine, by="alice", from_addr="news@acme.example", kind="campaign")
    # One that slipped into the queue (queued before the move) is rejected by the sender.
    with session_scope(engine) as session:
        session.execute(
            text("UPDATE domains SET sending_mode = 'shared' WHERE name = 'acme.example'")
        )
    enqueue(engine, by="alice", from_addr="news@acme.example", kind="broadcast")
    with session_scope(engine) as session:
        session.execute(
            text("UPDATE domains SET sending_mode = 'transactional' WHERE name = 'acme.example'")
        )
    stats = await run_sender(engine, relay_options(sink))
    assert stats.rejected == 1 and sink.handler.received() == 0
    [rejected] = messages(engine)
    assert rejected.status == MessageStatus.REJECTED
    assert "broadcasts from it are refused" in rejected.last_reply
    with session_scope(engine) as session:
        day = day_totals(session, DomainDailyStat, "domain_id", rejected.domain_id)
        assert day.rejected == 1 and day.sent == 0


async def test_a_completed_warmup_sends_only_from_the_dedicated_ip(sending_world, sink):
    engine = sending_world
    pool_name = make_dedicated(engine, ["news.acme.example"], ips=["127.0.0.20"])
    set_warmup(engine, pool_name, state=WarmupState.COMPLETE)
    enqueue(engine, by="alice", from_addr="news@news.acme.example", count=100)
    await run_sender(engine, relay_options(sink))
    assert set(arrivals(sink).values()) == {("127.0.0.20", "d20.dedicated.mailpools.test")}


async def test_a_warming_domain_splits_between_dedicated_and_shared_as_planned(sending_world, sink):
    engine = sending_world
    pool_name = make_dedicated(engine, ["news.acme.example"], ips=["127.0.0.20"])
    set_warmup(engine, pool_name, current_day=30, planned_days=45)
    ids = enqueue(engine, by="alice", from_addr="news@news.acme.example", count=1_000)
    await run_sender(engine, relay_options(sink))
    state, the_domain = pool_state(engine, "news.acme.example")
    shared = state.pools[the_domain.shared_pool_id]
    share = dedicated_share(30, 45)
    seen = arrivals(sink)
    for message_id in ids:
        if goes_to_dedicated(message_id, share):
            assert seen[message_id][0] == "127.0.0.20"
        else:
            assert seen[message_id][0] == choose_ip(shared, message_id).address
    observed = sum(peer == "127.0.0.20" for peer, _ in seen.values()) / len(ids)
    # 1,000 messages: within five points here; the ±2 points over 10,000 are in the unit tests.
    assert abs(observed - share) < 0.05


async def test_a_removed_domain_is_held_until_reinstated(sending_world, sink):
    engine = sending_world
    with session_scope(engine) as session:
        pools.remove_domain(
            session, user(session, "sam"), "offers.bolt.example", reason="Too many bounces."
        )
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=5)
    stats = await run_sender(engine, relay_options(sink))
    assert stats.held == 5 and sink.handler.received() == 0
    assert statuses(engine) == {MessageStatus.HELD: 5}
    with session_scope(engine) as session:
        pools.reinstate_domain(session, user(session, "sam"), "offers.bolt.example")
    await run_sender(engine, relay_options(sink))
    assert statuses(engine) == {MessageStatus.SENT: 5}
    assert sink.handler.received() == 5


async def test_a_pool_without_usable_ips_defers_and_never_borrows(sending_world, sink):
    engine = sending_world
    state, the_domain = pool_state(engine, "offers.bolt.example")
    pool = state.pools[the_domain.shared_pool_id]
    with session_scope(engine) as session:
        for ip in session.exec(select(IpAddress).where(IpAddress.pool_id == pool.id)):
            ip.state = "paused"
            session.add(ip)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=3)
    stats = await run_sender(engine, relay_options(sink))
    assert stats.deferred == 3 and sink.handler.received() == 0
    for message in messages(engine):
        assert message.status == MessageStatus.QUEUED and message.attempts == 1
        assert message.next_attempt_at > clock.now()
        assert "no usable IP" in message.last_reply


async def test_mail_routed_to_an_ip_no_sender_has_waits_for_one_and_agents_see_it(
    sending_world, sink
):
    engine = sending_world
    state, the_domain = pool_state(engine, "offers.bolt.example")
    pool = state.pools[the_domain.shared_pool_id]
    unbound_ip = pool.ips[0]
    with session_scope(engine) as session:
        # 192.0.2.0/24 is reserved for documentation: no host has it bound.
        session.execute(
            text("UPDATE ip_addresses SET address = '192.0.2.77' WHERE id = :id"),
            {"id": unbound_ip.id},
        )
    ids = enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=60)
    stats = await run_sender(engine, relay_options(sink))
    assert stats.unbound == {"192.0.2.77"}
    assert "192.0.2.77" not in stats.addresses
    by_id = {m.message_id: m for m in messages(engine)}
    seen = arrivals(sink)
    assert "192.0.2.77" not in {peer for peer, _ in seen.values()}
    waiting = [i for i in ids if by_id[i].status == MessageStatus.QUEUED]
    # Never claimed, never tried from another address: they wait for a host that has it.
    assert waiting and stats.claimed == stats.sent == len(ids) - len(waiting)
    assert stats.handed_over == len(waiting)
    for message_id in waiting:
        assert message_id not in seen
        message = by_id[message_id]
        assert message.routed_ip_id == unbound_ip.id and message.attempts == 0
    with session_scope(engine) as session:
        assert senders.waiting_for_a_sender(session, user(session, "sam")) == [
            senders.WaitingForSender(
                "192.0.2.77", len(waiting), min(by_id[i].next_attempt_at for i in waiting)
            )
        ]
        ip = session.get(IpAddress, unbound_ip.id)
        assert ip.bound is False and ip.bound_checked_at == clock.now()
        assert session.get(IpAddress, pool.ips[1].id).bound is True
        # Agents see the missing address in the audit log; bound ones found bound are not news.
        events = session.exec(select(AuditEvent).where(AuditEvent.actor == "system")).all()
        assert [(e.action, e.entity_id, e.actor) for e in events] == [
            ("ip.unbound", "192.0.2.77", "system")
        ]


async def test_replies_4xx_defer_with_backoff_5xx_bounce_and_stats_add_up(sending_world, sink):
    engine = sending_world
    enqueue(
        engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr="fine@dest.test", count=4
    )
    enqueue(
        engine,
        by="bruno",
        from_addr="deals@offers.bolt.example",
        to_addr="defer@dest.test",
        count=3,
    )
    enqueue(
        engine,
        by="bruno",
        from_addr="deals@offers.bolt.example",
        to_addr="bounce@dest.test",
        count=2,
    )
    # Refused only once the whole message is in (end of DATA), as content filters do.
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr="spam@dest.test")
    stats = await run_sender(engine, relay_options(sink, backoff_base_seconds=120))
    assert (stats.sent, stats.deferred, stats.bounced) == (4, 3, 3)
    for message in messages(engine, to_addr="defer@dest.test"):
        assert message.status == MessageStatus.QUEUED and message.attempts == 1
        assert (message.next_attempt_at - clock.now()).total_seconds() == 120
        assert message.last_reply.startswith("451")
    for message in messages(engine, to_addr="bounce@dest.test"):
        assert message.status == MessageStatus.BOUNCED and message.last_reply.startswith("550")
        assert message.finished_at == clock.now()
    [refused] = messages(engine, to_addr="spam@dest.test")
    assert refused.status == MessageStatus.BOUNCED
    assert refused.last_reply == "554 5.7.1 Message refused as spam"
    the_domain = domain(engine, "offers.bolt.example")
    with session_scope(engine) as session:
        day = day_totals(session, DomainDailyStat, "domain_id", the_domain.id)
        # The spam refusal (5.7.1) blames the sender, not the address: a soft bounce, which
        # the daily bounce counts leave out.
        assert (day.sent, day.deferred, day.bounced, day.campaign_sent) == (4, 3, 2, 4)
        ip_rows = session.exec(select(IpDailyStat).where(IpDailyStat.day == clock.today())).all()
        assert sum(r.sent for r in ip_rows) == 4 and sum(r.bounced for r in ip_rows) == 2
        assert sum(r.deferred for r in ip_rows) == 3


async def test_a_second_deferral_doubles_the_wait_and_max_age_bounces(
    sending_world, sink, monkeypatch
):
    engine = sending_world
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr="defer@dest.test")
    options = relay_options(sink, backoff_base_seconds=60, max_age_seconds=300)
    await run_sender(engine, options)
    move_clock("2026-11-26T09:01:00")
    await run_sender(engine, options)
    [message] = messages(engine)
    assert message.attempts == 2
    assert message.next_attempt_at == clock.parse_instant("2026-11-26T09:03:00")
    # A fourth try would wait until 09:07, past the 300 s maximum age: the third failure bounces.
    move_clock("2026-11-26T09:03:00")
    await run_sender(engine, options)
    [message] = messages(engine)
    assert message.status == MessageStatus.BOUNCED and message.attempts == 3
    assert message.last_reply.startswith("gave up after 3 attempts") and "451" in message.last_reply


async def test_a_stalled_server_times_out_and_the_message_is_deferred(sending_world):
    engine = sending_world
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr="stall@dest.test")
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr="fine@dest.test")
    # The server would stay silent far longer than the 2 s DATA timeout; the sink stops
    # with the test, so the margin costs nothing.
    with LoopbackSink(stall_seconds=60) as slow:
        stats = await run_sender(engine, relay_options(slow, data_timeout=2))
    assert (stats.sent, stats.deferred) == (1, 1)
    [stalled] = messages(engine, to_addr="stall@dest.test")
    assert stalled.status == MessageStatus.QUEUED and "timed out" in stalled.last_reply.lower()


async def test_connections_are_reused_per_ip_and_destination(sending_world, sink):
    engine = sending_world
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=400)
    stats = await run_sender(engine, relay_options(sink, per_ip_concurrency=2, total_concurrency=4))
    assert stats.sent == 400
    # Two IPs, at most two connections each.
    assert sink.handler.connections <= 4 and stats.connections_opened <= 4


async def test_two_workers_share_the_queue_without_sending_twice(sending_world, sink):
    import asyncio

    engine = sending_world
    ids = enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=1_000)
    first, second = await asyncio.gather(
        run_sender(engine, relay_options(sink, worker_id="one", batch_size=50)),
        run_sender(engine, relay_options(sink, worker_id="two", batch_size=50)),
    )
    assert first.sent + second.sent == 1_000
    assert first.sent and second.sent
    delivered = [d.message_id for d in sink.handler.snapshot()]
    assert sorted(delivered) == sorted(ids)


async def test_the_senders_stats_hold_a_bad_warmup_day(sending_world, sink, monkeypatch):
    engine = sending_world
    pool_name = make_dedicated(engine, ["news.acme.example"], ips=["127.0.0.20"])
    set_warmup(engine, pool_name, current_day=44, planned_days=45)
    enqueue(
        engine, by="alice", from_addr="news@news.acme.example", to_addr="bounce@dest.test", count=30
    )
    enqueue(engine, by="alice", from_addr="news@news.acme.example", count=270)
    await run_sender(engine, relay_options(sink))
    move_clock("2026-11-27T00:05:00")
    await run_sender(engine, relay_options(sink))
    warmup = warmup_of(engine, pool_name)
    dedicated_bounces = sum(
        1 for m in messages(engine, to_addr="bounce@dest.test") if m.pool_id == warmup.pool_id
    )
    dedicated_total = sum(1 for m in messages(engine) if m.pool_id == warmup.pool_id)
    # Day 44 of 45 sends about 92% from the dedicated IP: its bounce rate is near 10%.
    assert dedicated_bounces / dedicated_total > 0.05
    assert (warmup.current_day, warmup.held_days, warmup.state) == (44, 1, WarmupState.RUNNING)


async def test_the_sender_removes_a_domain_that_bounces_too_much_and_holds_its_mail(
    sending_world, sink
):
    engine = sending_world
    # 40 bounces in 500 is 8%, above the shared pools' 5%, with the 500-message minimum sample.
    enqueue(
        engine,
        by="bruno",
        from_addr="deals@offers.bolt.example",
        to_addr="bounce@dest.test",
        count=40,
    )
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=460)
    await run_sender(engine, relay_options(sink))
    removed = domain(engine, "offers.bolt.example")
    assert removed.status == "removed" and "bounce rate 8.00%" in removed.removed_reason
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=3)
    stats = await run_sender(engine, relay_options(sink))
    assert stats.held == 3 and sink.handler.received() == 460
