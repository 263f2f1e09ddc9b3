"""`mailpools dkim show|rotate|confirm`, `db upgrade` making missing keys, and `sender --relay-tls`."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from app.demo.dns_server import LoopbackDns
from app.demo.sink import LoopbackSink
from app.services import dkim
from data.db import session_scope
from data.models import AuditEvent, DkimKey
from tests.command_line import Cli
from tests.sending_world import enqueue, messages, world


@pytest.fixture
def cli(engine, database_url, monkeypatch):
    world(engine)
    return Cli(database_url, monkeypatch)


def _private_keys(engine) -> list[str]:
    with session_scope(engine) as session:
        return [key.private_key_pem for key in session.exec(select(DkimKey))]


def test_show_prints_the_record_to_publish_and_never_a_private_key(cli, engine):
    shown = cli.json("dkim", "show", "acme.example", "--as", "alice")
    assert shown["selector"] == "mp20261126"
    assert shown["name"] == "mp20261126._domainkey.acme.example"
    assert shown["record"].startswith("v=DKIM1; k=rsa; p=MIIBIjAN")
    text = cli.ok("dkim", "show", "acme.example")
    assert "mp20261126._domainkey.acme.example. IN TXT (" in text
    # The zone line cuts the key into strings DNS can hold.
    assert all(len(part) <= 255 for part in text.split('"')[1::2])
    assert "own account" in cli.refused("dkim", "show", "acme.example", "--as", "bruno")
    assert "no sending domain" in cli.refused("dkim", "show", "nowhere.example")
    for printed in (text, str(shown)):
        assert "PRIVATE" not in printed
        assert all(pem.splitlines()[1] not in printed for pem in _private_keys(engine))


def test_rotate_then_confirm_against_the_configured_dns_server(cli, engine, monkeypatch):
    assert "Only support agents" in cli.refused("dkim", "rotate", "acme.example", "--as", "alice")
    printed = cli.ok("dkim", "rotate", "acme.example", "--as", "sam")
    assert "mp20261126b._domainkey.acme.example" in printed and "mp20261126" in printed
    shown = cli.json("dkim", "show", "acme.example")
    assert (shown["selector"], shown["state"], shown["signing_selector"]) == (
        "mp20261126b",
        "pending",
        "mp20261126",
    )
    quoted = " ".join(f'"{part}"' for part in dkim.txt_strings(shown["record"]))
    with LoopbackDns({("other.example", "A"): ["127.0.0.1"]}) as empty:
        monkeypatch.setenv("MAILPOOLS_DNS_SERVER", f"127.0.0.1:{empty.port}")
        refusal = cli.refused("dkim", "confirm", "acme.example", "--as", "sam")
        assert refusal == (
            "mailpools: mp20261126b._domainkey.acme.example has no TXT record, not the new key; "
            "mail stays signed with mp20261126 until the record is published."
        )
    with LoopbackDns({(shown["name"], "TXT"): [quoted]}) as published:
        monkeypatch.setenv("MAILPOOLS_DNS_SERVER", f"127.0.0.1:{published.port}")
        assert "now signed with mp20261126b" in cli.ok(
            "dkim", "confirm", "acme.example", "--as", "sam"
        )
        assert ("mp20261126b._domainkey.acme.example.", "TXT") in published.queries
    assert cli.json("dkim", "show", "acme.example")["signing_selector"] == "mp20261126b"
    with session_scope(engine) as session:
        actions = [
            e.action
            for e in session.exec(
                select(AuditEvent)
                .where(AuditEvent.entity_id == "acme.example")
                .order_by(col(AuditEvent.id))
            )
        ]
    assert actions[-2:] == ["dkim.rotated", "dkim.confirmed"]


def test_a_bad_dns_server_setting_is_refused_in_one_sentence(cli, monkeypatch):
    monkeypatch.setenv("MAILPOOLS_DNS_SERVER", "127.0.0.1")
    assert "MAILPOOLS_DNS_SERVER must be HOST:PORT" in cli.refused(
        "dkim", "confirm", "acme.example", "--as", "sam"
    )


def test_db_upgrade_gives_domains_without_a_key_their_first(cli, engine):
    with session_scope(engine) as session:
        for key in session.exec(select(DkimKey)):
            session.delete(key)
    printed = cli.ok("db", "upgrade")
    assert "made DKIM keys for 7 domain(s)" in printed and "acme.example" in printed
    assert "made DKIM keys" not in cli.ok("db", "upgrade")
    assert cli.json("dkim", "show", "acme.example")["state"] == "active"


def test_relay_tls_needs_a_relay_and_refuses_a_smarthost_without_tls(cli, engine):
    assert "--relay-tls needs --relay" in cli.refused("sender", "--relay-tls", "--until-empty")
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example")
    with LoopbackSink() as sink:
        printed = cli.ok(
            "sender", "--until-empty", "--relay", f"127.0.0.1:{sink.port}", "--relay-tls", "--quiet"
        )
        assert sink.handler.received() == 0
    assert "sent 0, deferred 1" in printed
    [waiting] = messages(engine)
    assert "does not offer STARTTLS" in waiting.last_reply
