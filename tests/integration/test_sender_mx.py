"""Direct mode: MX lookups with dnspython against a loopback DNS server, and their fallbacks."""

from __future__ import annotations

import pytest

from app.demo.dns_server import LoopbackDns
from app.demo.sink import LoopbackSink
from app.sender import SenderOptions, run_sender
from app.sender.destinations import Destination, MxDestinations, Unreachable
from data.models import MessageStatus
from tests.sending_world import enqueue, messages, world

RECORDS = {
    # Preference order: the unreachable 127.0.0.9 host is tried second only.
    ("dest.test", "MX"): ["10 mx1.dest.test.", "20 mx2.dest.test."],
    ("mx1.dest.test", "A"): ["127.0.0.1"],
    ("mx2.dest.test", "A"): ["127.0.0.9"],
    # No MX: mail goes to the domain's own address.
    ("plain.test", "A"): ["127.0.0.1"],
    # RFC 7505 null MX: the domain accepts no mail.
    ("nullmx.test", "MX"): ["0 ."],
    # The first MX has no listener; the second one does.
    ("fallback.test", "MX"): ["10 down.fallback.test.", "20 up.fallback.test."],
    ("down.fallback.test", "A"): ["127.0.0.99"],
    ("up.fallback.test", "A"): ["127.0.0.1"],
}


@pytest.fixture
def dns_server():
    with LoopbackDns(RECORDS) as server:
        yield server


async def test_lookups_follow_preference_implicit_mx_and_refusals(dns_server):
    resolver = MxDestinations(nameservers=["127.0.0.1"], dns_port=dns_server.port, smtp_port=2525)
    assert await resolver.resolve("dest.test") == Destination(
        "dest.test", (("127.0.0.1", 2525), ("127.0.0.9", 2525))
    )
    assert await resolver.resolve("plain.test") == Destination("plain.test", (("127.0.0.1", 2525),))
    null_mx = await resolver.resolve("nullmx.test")
    assert isinstance(null_mx, Unreachable) and null_mx.permanent and "null MX" in null_mx.text
    missing = await resolver.resolve("nowhere.test")
    assert (
        isinstance(missing, Unreachable) and missing.permanent and "does not exist" in missing.text
    )
    # Answers are cached: a second lookup asks the server nothing.
    asked = len(dns_server.queries)
    await resolver.resolve("dest.test")
    assert len(dns_server.queries) == asked


async def test_a_dns_timeout_is_temporary():
    # Nothing listens on this port: the lookup times out, which defers rather than bounces.
    resolver = MxDestinations(nameservers=["127.0.0.1"], dns_port=9, lifetime=0.5)
    result = await resolver.resolve("dest.test")
    assert isinstance(result, Unreachable) and not result.permanent


async def test_direct_mode_delivers_through_mx_hosts_from_the_routed_ip(sqlite_engine, dns_server):
    engine = world(sqlite_engine)
    for recipient in (
        "a@dest.test",
        "b@plain.test",
        "c@fallback.test",
        "d@nullmx.test",
        "e@nowhere.test",
    ):
        enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr=recipient)
    with LoopbackSink() as sink:
        options = SenderOptions(
            nameservers=["127.0.0.1"],
            dns_port=dns_server.port,
            smtp_port=sink.port,
            until_empty=True,
            smtp_timeout=30,
            poll_seconds=0.1,
        )
        stats = await run_sender(engine, options)
        delivered = {d.rcpt_tos[0]: d.peer_ip for d in sink.handler.snapshot()}
    assert (stats.sent, stats.bounced) == (3, 2)
    assert set(delivered) == {"a@dest.test", "b@plain.test", "c@fallback.test"}
    by_recipient = {m.to_addr: m for m in messages(engine)}
    for recipient, peer in delivered.items():
        assert by_recipient[recipient].status == MessageStatus.SENT
        assert peer.startswith("127.0.0.") and peer != "127.0.0.1"
    assert by_recipient["d@nullmx.test"].last_reply.startswith("556")
    assert by_recipient["e@nowhere.test"].last_reply.startswith("550")
