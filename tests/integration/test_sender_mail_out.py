"""What leaves the sender, checked where it arrives: over TLS, from the routed IP, signed
with DKIM (verified by dkimpy against keys served by a loopback DNS server), from a signed
return-path address, and with unsubscribe headers on bulk mail only."""

from __future__ import annotations

import email
import email.policy
import ssl

import dkim
import dns.resolver
import pytest
from sqlmodel import select

from app import settings
from app.demo.dns_server import LoopbackDns
from app.demo.sink import Delivery, LoopbackSink
from app.rules.return_path import MessageToken, TokenPurpose, read_address
from app.sender import SenderOptions, run_sender
from app.services import dkim as dkim_keys
from app.services.inventory import apply_inventory, load_file
from app.services.secrets import RETURN_PATH_SECRET, server_secret
from app.settings import Settings
from data.db import session_scope
from data.models import IpAddress, MessageStatus, ServerSecret
from tests.certificates import LoopbackAuthority
from tests.command_line import Cli
from tests.factories import DEMO_INVENTORY
from tests.sending_world import enqueue, messages, relay_options, world

SENDING_DOMAINS = ("offers.bolt.example", "bolt.example")


def _txt(record: str) -> list[str]:
    return [" ".join(f'"{part}"' for part in dkim_keys.txt_strings(record))]


def _published_keys(engine) -> dict[tuple[str, str], list[str]]:
    records = {}
    with session_scope(engine) as session:
        for domain in SENDING_DOMAINS:
            status = dkim_keys.dkim_status(session, None, domain)
            records[(status.active.name, "TXT")] = _txt(status.active.record)
    return records


def _dkim_lookup(dns_port: int):
    """dkimpy's DNS hook, asking the loopback server with dnspython."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = dns_port

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode(), "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(answer[0].strings)  # type: ignore[attr-defined]

    return lookup


def _secret(engine) -> bytes:
    with session_scope(engine) as session:
        return server_secret(session, RETURN_PATH_SECRET)


def _ip_addresses(engine) -> dict[int, str]:
    with session_scope(engine) as session:
        return {ip.id: ip.address for ip in session.exec(select(IpAddress))}


def _signature_selector(delivery: Delivery) -> str:
    signature = email.message_from_bytes(delivery.content, policy=email.policy.SMTP)
    tags = dict(part.strip().split("=", 1) for part in str(signature["DKIM-Signature"]).split(";"))
    return tags["s"]


@pytest.fixture
def authority(tmp_path) -> LoopbackAuthority:
    return LoopbackAuthority.create(tmp_path)


async def test_direct_mail_arrives_over_tls_signed_and_from_a_signed_return_path(
    engine, tmp_path, authority
):
    world(engine)
    [transactional] = enqueue(
        engine, by="bruno", from_addr="receipts@bolt.example", kind="transactional"
    )
    [campaign] = enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example")
    records = {
        ("dest.test", "MX"): ["10 mx.dest.test."],
        ("mx.dest.test", "A"): ["127.0.0.1"],
        **_published_keys(engine),
    }
    # Not verified by default: the receiving server's certificate is nobody the sender knows.
    context = authority.server_context(tmp_path, ["mx.dest.test"])
    with (
        LoopbackDns(records) as dns_server,
        LoopbackSink(tls_context=context, keep_content=True) as sink,
    ):
        options = SenderOptions(
            nameservers=["127.0.0.1"],
            dns_port=dns_server.port,
            smtp_port=sink.port,
            until_empty=True,
            poll_seconds=0.1,
        )
        stats = await run_sender(engine, options)
        deliveries = {d.message_id: d for d in sink.handler.snapshot()}
        verify_lookup = _dkim_lookup(dns_server.port)
        assert stats.sent == 2
        secret = _secret(engine)
        addresses = _ip_addresses(engine)
        for row in messages(engine):
            delivery = deliveries[row.message_id]
            assert row.status == MessageStatus.SENT
            assert delivery.peer_ip == addresses[row.ip_id] != "127.0.0.1"
            assert delivery.tls_version is not None and delivery.tls_version.startswith("TLSv1")
            assert (row.sent_over_tls, row.tls_version) == (True, delivery.tls_version)
            assert dkim.verify(delivery.content, dnsfunc=verify_lookup)
            from_domain = row.from_addr.split("@")[1]
            assert delivery.mail_from.endswith(f"@bounces.{from_domain}")
            assert read_address(secret, delivery.mail_from, TokenPurpose.BOUNCE) == MessageToken(
                TokenPurpose.BOUNCE, row.id
            )
            # Another secret cannot read it: the address is not guessable from the id.
            assert read_address(b"another secret", delivery.mail_from) is None
            parsed = email.message_from_bytes(delivery.content, policy=email.policy.SMTP)
            unsubscribe = parsed["List-Unsubscribe"]
            if row.message_id == transactional:
                assert unsubscribe is None and parsed["List-Unsubscribe-Post"] is None
            else:
                assert row.message_id == campaign
                assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
                mailto = str(unsubscribe).strip("<>").removeprefix("mailto:").split("?")[0]
                assert mailto.endswith("@bounces.offers.bolt.example")
                assert read_address(secret, mailto, TokenPurpose.UNSUBSCRIBE) == MessageToken(
                    TokenPurpose.UNSUBSCRIBE, row.id
                )


async def test_required_tls_is_verified_or_the_mail_waits(sqlite_engine, tmp_path, authority):
    engine = world(sqlite_engine)
    records = {("dest.test", "MX"): ["10 mx.dest.test."], ("mx.dest.test", "A"): ["127.0.0.1"]}
    stranger = LoopbackAuthority.create(tmp_path, "someone else's CA")
    servers = {
        "no STARTTLS offered": None,
        "a certificate from an unknown CA": stranger.server_context(tmp_path, ["mx.dest.test"]),
        "a certificate for another name": authority.server_context(tmp_path, ["other.test"]),
    }
    for server, context in servers.items():
        enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr="a@dest.test")
        with LoopbackDns(records) as dns_server, LoopbackSink(tls_context=context) as sink:
            options = SenderOptions(
                nameservers=["127.0.0.1"],
                dns_port=dns_server.port,
                smtp_port=sink.port,
                until_empty=True,
                poll_seconds=0.1,
                tls_required_domains=frozenset({"dest.test"}),
                tls_ca_file=str(authority.ca_file),
            )
            stats = await run_sender(engine, options)
            assert (stats.sent, stats.deferred, sink.handler.received()) == (0, 1, 0), server
    with LoopbackDns(records) as dns_server:
        good = authority.server_context(tmp_path, ["mx.dest.test"])
        with LoopbackSink(tls_context=good) as sink:
            enqueue(
                engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr="b@dest.test"
            )
            options.dns_port, options.smtp_port = dns_server.port, sink.port
            stats = await run_sender(engine, options)
            [delivery] = sink.handler.snapshot()
    assert stats.sent == 1 and delivery.rcpt_tos == ("b@dest.test",)
    assert delivery.tls_version is not None


async def test_relay_mode_can_require_tls_to_the_smarthost(sqlite_engine, tmp_path, authority):
    engine = world(sqlite_engine)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example")
    with LoopbackSink() as plain:
        options = relay_options(plain, relay_requires_tls=True, tls_ca_file=str(authority.ca_file))
        stats = await run_sender(engine, options)
    assert (stats.sent, stats.deferred, plain.handler.received()) == (0, 1, 0)
    [waiting] = messages(engine)
    assert "STARTTLS" in waiting.last_reply and waiting.sent_over_tls is None

    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example")
    context = authority.server_context(tmp_path, ["127.0.0.1"])
    with LoopbackSink(tls_context=context) as secured:
        options = relay_options(
            secured, relay_requires_tls=True, tls_ca_file=str(authority.ca_file)
        )
        stats = await run_sender(engine, options)
        [delivery] = secured.handler.snapshot()
    assert stats.sent == 1 and delivery.tls_version is not None


async def test_mail_in_clear_is_recorded_as_such(sqlite_engine):
    engine = world(sqlite_engine)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example")
    with LoopbackSink() as sink:
        stats = await run_sender(engine, relay_options(sink))
        [delivery] = sink.handler.snapshot()
    [row] = messages(engine)
    assert stats.sent == 1 and delivery.tls_version is None
    assert (row.sent_over_tls, row.tls_version) == (False, None)


async def test_a_rotated_key_signs_only_once_its_record_is_published(
    sqlite_engine, sqlite_url, monkeypatch
):
    engine = world(sqlite_engine)
    cli = Cli(sqlite_url, monkeypatch)
    old = cli.json("dkim", "show", "offers.bolt.example")
    rotated = cli.json("dkim", "rotate", "offers.bolt.example", "--as", "sam")
    assert rotated["selector"] != old["selector"] and rotated["signing_selector"] == old["selector"]
    assert rotated["state"] == "pending"
    records = {
        ("dest.test", "MX"): ["10 mx.dest.test."],
        ("mx.dest.test", "A"): ["127.0.0.1"],
        (old["name"], "TXT"): _txt(old["record"]),
    }

    async def send_one_message(dns_server: LoopbackDns) -> Delivery:
        enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr="a@dest.test")
        with LoopbackSink(keep_content=True) as sink:
            options = SenderOptions(
                nameservers=["127.0.0.1"],
                dns_port=dns_server.port,
                smtp_port=sink.port,
                until_empty=True,
                poll_seconds=0.1,
            )
            await run_sender(engine, options)
            [delivery] = sink.handler.snapshot()
        assert dkim.verify(delivery.content, dnsfunc=_dkim_lookup(dns_server.port))
        return delivery

    with LoopbackDns(records) as dns_server:
        monkeypatch.setenv("MAILPOOLS_DNS_SERVER", f"127.0.0.1:{dns_server.port}")
        assert _signature_selector(await send_one_message(dns_server)) == old["selector"]
        refusal = cli.refused("dkim", "confirm", "offers.bolt.example", "--as", "sam")
        assert "no TXT record" in refusal and old["selector"] in refusal
    records[(rotated["name"], "TXT")] = _txt(rotated["record"])
    with LoopbackDns(records) as dns_server:
        monkeypatch.setenv("MAILPOOLS_DNS_SERVER", f"127.0.0.1:{dns_server.port}")
        confirmed = cli.json("dkim", "confirm", "offers.bolt.example", "--as", "sam")
        assert confirmed["signing_selector"] == rotated["selector"]
        assert _signature_selector(await send_one_message(dns_server)) == rotated["selector"]


async def test_configured_return_path_domain_secret_and_unsubscribe_url(sqlite_engine):
    engine = world(sqlite_engine)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example")
    configured = Settings(
        return_path_domain="{domain}.rp.example",
        return_path_secret="a configured secret",
        unsubscribe_url="https://unsubscribe.example/u",
    )
    with settings.in_force(configured), LoopbackSink(keep_content=True) as sink:
        await run_sender(engine, relay_options(sink))
        [delivery] = sink.handler.snapshot()
    [row] = messages(engine)
    assert delivery.mail_from.endswith("@offers.bolt.example.rp.example")
    assert read_address(b"a configured secret", delivery.mail_from) == MessageToken(
        TokenPurpose.BOUNCE, row.id
    )
    # The configured secret replaces the stored one, which was never made.
    with session_scope(engine) as session:
        assert session.exec(select(ServerSecret)).all() == []
    parsed = email.message_from_bytes(delivery.content, policy=email.policy.SMTP)
    mailto, url = (part.strip().strip("<>") for part in str(parsed["List-Unsubscribe"]).split(","))
    assert mailto.startswith("mailto:u-") and "@offers.bolt.example.rp.example" in mailto
    token = url.removeprefix("https://unsubscribe.example/u/")
    assert read_address(b"a configured secret", f"{token}@x") == MessageToken(
        TokenPurpose.UNSUBSCRIBE, row.id
    )


@pytest.mark.parametrize("tls_required", [False, True], ids=["opportunistic", "required"])
async def test_a_failed_tls_handshake_is_retried_in_clear_unless_tls_is_required(
    sqlite_engine, tmp_path, authority, tls_required
):
    """Opportunistic TLS that the two ends cannot agree on (here the receiver insists on a
    client certificate the sender does not have) must not hold the mail: the sender
    connects again without STARTTLS, as MTAs do, and records that it went in clear. Where
    TLS is required, the mail waits instead."""
    engine = world(sqlite_engine)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example")
    records = {("dest.test", "MX"): ["10 mx.dest.test."], ("mx.dest.test", "A"): ["127.0.0.1"]}
    demanding = authority.server_context(tmp_path, ["mx.dest.test"])
    demanding.maximum_version = ssl.TLSVersion.TLSv1_2
    demanding.verify_mode = ssl.CERT_REQUIRED
    with LoopbackDns(records) as dns_server, LoopbackSink(tls_context=demanding) as sink:
        options = SenderOptions(
            nameservers=["127.0.0.1"],
            dns_port=dns_server.port,
            smtp_port=sink.port,
            until_empty=True,
            poll_seconds=0.1,
        )
        if tls_required:
            options.tls_required_domains = frozenset({"dest.test"})
            options.tls_ca_file = str(authority.ca_file)
        stats = await run_sender(engine, options)
        deliveries = sink.handler.snapshot()
    [row] = messages(engine)
    if tls_required:
        assert (stats.sent, stats.deferred, deliveries) == (0, 1, [])
        assert "TLS" in row.last_reply and row.status == MessageStatus.QUEUED
    else:
        assert stats.sent == 1 and [d.tls_version for d in deliveries] == [None]
        assert (row.status, row.sent_over_tls) == (MessageStatus.SENT, False)


async def test_a_new_domain_without_its_key_yet_sends_unsigned_then_signed_once_made(
    sqlite_engine, caplog
):
    # What a sender sees between an inventory's commit and its domains' keys being made.
    with session_scope(sqlite_engine) as session:
        report = apply_inventory(session, None, load_file(DEMO_INVENTORY))
    assert "offers.bolt.example" in report.keyless
    enqueue(sqlite_engine, by="bruno", from_addr="deals@offers.bolt.example")
    with LoopbackSink(keep_content=True) as sink:
        stats = await run_sender(sqlite_engine, relay_options(sink))
        [unsigned] = sink.handler.snapshot()
    assert stats.sent == 1
    assert b"DKIM-Signature" not in unsigned.content
    assert "offers.bolt.example has no DKIM key yet" in caplog.text

    assert "offers.bolt.example" in dkim_keys.make_missing_keys(sqlite_engine, "operator")
    enqueue(sqlite_engine, by="bruno", from_addr="deals@offers.bolt.example")
    with LoopbackSink(keep_content=True) as sink:
        await run_sender(sqlite_engine, relay_options(sink))
        [signed] = sink.handler.snapshot()
    with session_scope(sqlite_engine) as session:
        status = dkim_keys.dkim_status(session, None, "offers.bolt.example")
    assert _signature_selector(signed) == status.active.selector
