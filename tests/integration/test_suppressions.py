"""The suppression list from the command line, and what it does to mail: a listed address
is finished as suppressed when it is queued, or when the sender claims it if it was
listed while the message waited; either way nothing reaches the receiving server."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.demo.sink import LoopbackSink
from app.errors import NotFound
from app.sender import run_sender
from app.services import suppressions
from data.db import session_scope
from data.models import AuditEvent, MessageStatus
from tests.command_line import Cli
from tests.database_state import database_state
from tests.factories import user
from tests.sending_world import enqueue, messages, relay_options, world

REASON = "Asked us by phone to stop all mail."


@pytest.fixture
def cli(engine, database_url, monkeypatch):
    world(engine)
    return Cli(database_url, monkeypatch)


def test_an_owner_lists_adds_and_removes_their_own_suppressions(cli, engine):
    said = cli.ok("suppressions", "add", "Dana@Dest.test", "--reason", REASON, "--as", "bruno")
    assert "dana@dest.test is on bolt's suppression list" in said
    [entry] = cli.json("suppressions", "list", "--as", "bruno")
    assert (entry["address"], entry["account"], entry["reason"], entry["note"]) == (
        "dana@dest.test",
        "bolt",
        "manual",
        REASON,
    )
    # Another owner sees none of it; an agent sees every account's.
    assert cli.json("suppressions", "list", "--as", "alice") == []
    assert [e["address"] for e in cli.json("suppressions", "list", "--as", "sam")] == [
        "dana@dest.test"
    ]
    refusal = cli.refused(
        "suppressions", "add", "dana@dest.test", "--reason", REASON, "--as", "bruno"
    )
    assert "already on bolt's suppression list" in refusal
    said = cli.ok("suppressions", "remove", "DANA@dest.test", "--as", "bruno")
    assert "off bolt's suppression list" in said and "added by hand" in said
    assert cli.json("suppressions", "list", "--as", "bruno") == []
    with session_scope(engine) as session:
        actions = [
            (event.actor, event.action)
            for event in session.exec(
                select(AuditEvent).where(AuditEvent.entity == "suppression").order_by(AuditEvent.id)
            )
        ]
    assert actions == [("bruno", "suppression.add"), ("bruno", "suppression.remove")]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("add", "dana@dest.test", "--reason", REASON, "--as", "sam"), "Name the account"),
        (("add", "dana@dest.test", "--reason", "x", "--as", "bruno"), "in words"),
        (("add", "not an address", "--reason", REASON, "--as", "bruno"), "not an email address"),
        (
            ("add", "dana@dest.test", "--reason", REASON, "--account", "acme", "--as", "bruno"),
            "no account",
        ),
        (("remove", "nobody@dest.test", "--as", "bruno"), "not on bolt's suppression list"),
        (("remove", "dana@dest.test", "--as", "sam"), "Name the account"),
    ],
    ids=[
        "agent-without-account",
        "no-words",
        "bad-address",
        "other-account",
        "not-listed",
        "agent",
    ],
)
def test_suppression_changes_that_are_refused_change_nothing(cli, engine, args, words):
    before = database_state(engine)
    refusal = cli.refused("suppressions", *args)
    assert words.lower() in refusal.lower()
    assert database_state(engine) == before


def test_an_agent_names_the_account_whose_list_to_change(cli):
    cli.ok(
        "suppressions",
        "add",
        "dana@dest.test",
        "--reason",
        REASON,
        "--account",
        "bolt",
        "--as",
        "sam",
    )
    assert [
        e["account"] for e in cli.json("suppressions", "list", "--account", "bolt", "--as", "sam")
    ] == ["bolt"]
    cli.ok("suppressions", "remove", "dana@dest.test", "--account", "bolt", "--as", "sam")
    assert cli.json("suppressions", "list", "--as", "sam") == []


def test_mail_to_a_listed_address_is_finished_as_suppressed_when_queued(cli, engine):
    cli.ok("suppressions", "add", "dana@dest.test", "--reason", REASON, "--as", "bruno")
    said = cli.ok(
        "enqueue",
        "--from",
        "deals@offers.bolt.example",
        "--to",
        "DANA@dest.test",
        "--kind",
        "campaign",
        "--count",
        "2",
        "--as",
        "bruno",
    )
    assert "Queued 0 campaign messages" in said and "Not sent to DANA@dest.test" in said
    rows = messages(engine)
    assert [row.status for row in rows] == [MessageStatus.SUPPRESSED] * 2
    assert all(row.finished_at is not None and "suppression list" in row.last_reply for row in rows)
    # Another account's list does not reach bolt's... and bolt's does not reach acme's.
    cli.ok(
        "enqueue",
        "--from",
        "news@acme.example",
        "--to",
        "dana@dest.test",
        "--kind",
        "campaign",
        "--as",
        "alice",
    )
    assert messages(engine)[-1].status == MessageStatus.QUEUED


async def test_mail_listed_while_it_waited_is_not_sent(cli, engine):
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr="dana@dest.test")
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", to_addr="eli@dest.test")
    cli.ok("suppressions", "add", "dana@dest.test", "--reason", REASON, "--as", "bruno")
    with LoopbackSink() as sink:
        stats = await run_sender(engine, relay_options(sink))
        delivered = [delivery.rcpt_tos for delivery in sink.handler.snapshot()]
    assert delivered == [("eli@dest.test",)]
    assert (stats.sent, stats.suppressed) == (1, 1)
    statuses = {row.to_addr: row.status for row in messages(engine)}
    assert statuses == {
        "dana@dest.test": MessageStatus.SUPPRESSED,
        "eli@dest.test": MessageStatus.SENT,
    }
    [suppressed] = messages(engine, to_addr="dana@dest.test")
    assert "added by hand" in suppressed.last_reply and suppressed.lease_owner is None


def test_every_spelling_of_a_listed_address_is_suppressed(cli, engine, tmp_path):
    cli.ok("suppressions", "add", "dana@dest.test", "--reason", REASON, "--as", "bruno")
    eml = tmp_path / "two-spellings.eml"
    eml.write_bytes(
        b"From: deals@offers.bolt.example\r\nTo: Dana@dest.test, DANA@dest.test, eli@dest.test\r\n"
        b"Subject: Sale\r\n\r\nHello.\r\n"
    )
    said = cli.ok("enqueue", "--eml", str(eml), "--kind", "campaign", "--as", "bruno")
    assert "Queued 1 campaign message" in said
    statuses = {row.to_addr: row.status for row in messages(engine)}
    assert statuses == {
        "Dana@dest.test": MessageStatus.SUPPRESSED,
        "DANA@dest.test": MessageStatus.SUPPRESSED,
        "eli@dest.test": MessageStatus.QUEUED,
    }


def test_removing_an_address_that_does_not_print_is_refused_as_not_listed(engine):
    world(engine)
    before = database_state(engine)
    with session_scope(engine) as session, pytest.raises(NotFound) as refused:
        suppressions.remove_suppression(session, user(session, "bruno"), "da\x00na@dest.test")
    assert "not on bolt's suppression list" in refused.value.message
    assert database_state(engine) == before
