"""Slow receivers against a real sink: a stall holds only what it stalls.

The sink's stalls last until the test releases them, so these tests decide
the order of events instead of racing the sender's timeouts.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from app.demo.sink import LoopbackSink
from app.sender import run_sender
from data.models import MessageStatus
from tests.sending_world import enqueue, messages, relay_options, statuses, world

SENDER = "deals@offers.bolt.example"


async def arrive(sink: LoopbackSink, count: int, seconds: float = 120) -> None:
    """Until the sink has COUNT messages; the limit only turns a hang into a failure."""
    deadline = time.monotonic() + seconds
    while sink.handler.received() < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"the sink received {sink.handler.received()} of {count}")
        await asyncio.sleep(0.02)


@pytest.mark.drill
async def test_a_stalled_recipient_leaves_the_ips_other_destinations_moving(engine, drill):
    world(engine)
    healthy_count = 2_000 if drill else 100
    # The stalled messages are claimed first and would take every connection of
    # both IPs if one destination could have them all.
    stalled = enqueue(engine, by="bruno", from_addr=SENDER, to_addr="wait@stall.test", count=8)
    enqueue(engine, by="bruno", from_addr=SENDER, count=healthy_count)
    healthy = {m.message_id for m in messages(engine)} - set(stalled)
    with LoopbackSink(stall_seconds=600) as sink:
        # The RCPT timeout is far off: only the release ends the stall.
        options = relay_options(sink, smtp_timeout=600, per_ip_concurrency=4)
        sender = asyncio.create_task(run_sender(engine, options))
        await arrive(sink, healthy_count)
        arrived = {delivery.message_id for delivery in sink.handler.snapshot()}
        assert arrived == healthy
        still_sending = {m.message_id for m in messages(engine, status=MessageStatus.SENDING)}
        assert set(stalled) <= still_sending
        sink.handler.release_stalls()
        stats = await sender
    assert stats.sent == healthy_count + 8 and stats.deferred == 0
    assert statuses(engine) == {MessageStatus.SENT: healthy_count + 8}


@pytest.mark.drill
async def test_a_connection_whose_greeting_stalls_defers_no_message(engine, drill):
    world(engine)
    count = 5_000 if drill else 300
    enqueue(engine, by="bruno", from_addr=SENDER, count=count)
    ids = [message.message_id for message in messages(engine)]
    # Every fourth connection hears no greeting; a connection is opened before a
    # message is taken, so none waits on it and none is deferred for it.
    with LoopbackSink(stall_seconds=600, stall_greeting_every=4) as sink:
        options = relay_options(sink, greeting_timeout=2, per_ip_concurrency=4)
        stats = await run_sender(engine, options)
        delivered = [delivery.message_id for delivery in sink.handler.snapshot()]
        assert sink.handler.stalled_greetings >= 1
    assert (stats.sent, stats.deferred) == (count, 0)
    assert sorted(delivered) == sorted(ids)


async def test_a_stalled_data_phase_holds_only_its_own_connection(engine):
    world(engine)
    enqueue(engine, by="bruno", from_addr=SENDER, to_addr="stall@dest.test", count=2)
    healthy = enqueue(engine, by="bruno", from_addr=SENDER, count=200)
    with LoopbackSink(stall_seconds=600) as sink:
        # The stalled messages share the healthy ones' destination: each holds one of
        # the three connections its IP may open there, and the others carry the rest.
        options = relay_options(sink, data_timeout=600, per_ip_concurrency=4)
        sender = asyncio.create_task(run_sender(engine, options))
        await arrive(sink, 200)
        assert {delivery.message_id for delivery in sink.handler.snapshot()} == set(healthy)
        sink.handler.release_stalls()
        stats = await sender
    assert stats.sent == 202


async def test_a_destination_that_refuses_every_connection_defers_its_queue(engine):
    world(engine)
    enqueue(engine, by="bruno", from_addr=SENDER, count=50)
    with LoopbackSink() as sink:
        pass
    # Nothing listens on the port any more: after a few refusals in a row the rest
    # of the queue is deferred rather than tried one connection at a time.
    stats = await run_sender(engine, relay_options(sink))
    assert (stats.sent, stats.deferred) == (0, 50)
    for message in messages(engine):
        assert message.status == MessageStatus.QUEUED and "cannot connect" in message.last_reply
