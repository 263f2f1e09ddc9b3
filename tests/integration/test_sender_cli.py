"""Sending from the command line through `main(argv)`: enqueue, sender, complaints, warmup show."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.demo.sink import LoopbackSink
from data.db import session_scope
from data.models import AuditEvent, DomainDailyStat, IpDailyStat, Message, MessageStatus
from tests.command_line import Cli
from tests.factories import day_totals
from tests.sending_world import make_dedicated, make_transactional, messages, world


@pytest.fixture
def cli(engine, database_url, monkeypatch):
    world(engine)
    return Cli(database_url, monkeypatch)


def test_enqueue_then_send_until_empty(cli, engine):
    queued = cli.json(
        "enqueue",
        "--from",
        "deals@offers.bolt.example",
        "--to",
        "x@dest.test",
        "--kind",
        "campaign",
        "--subject",
        "Winter sale",
        "--count",
        "25",
        "--as",
        "bruno",
    )
    assert queued["count"] == 25 and len(set(queued["message_ids"])) == 25
    with LoopbackSink() as sink:
        printed = cli.ok("sender", "--until-empty", "--relay", f"127.0.0.1:{sink.port}", "--quiet")
        assert sink.handler.received() == 25
    assert "sent 25" in printed
    assert {m.status for m in messages(engine)} == {MessageStatus.SENT}
    with session_scope(engine) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "message.enqueue")).one()
        assert event.actor == "bruno" and '"count": 25' in event.after


def test_enqueue_refusals_are_one_sentence_and_write_nothing(cli, engine):
    make_transactional(engine, "acme.example")
    assert "transactional pool" in cli.refused(
        "enqueue",
        "--from",
        "news@acme.example",
        "--to",
        "x@dest.test",
        "--kind",
        "campaign",
        "--as",
        "alice",
    )
    for outsider, sentence in (
        ("bruno", "There is no sending domain named 'acme.example'."),
        ("sam", "own account"),
    ):
        assert sentence in cli.refused(
            "enqueue",
            "--from",
            "news@acme.example",
            "--to",
            "x@dest.test",
            "--kind",
            "transactional",
            "--as",
            outsider,
        )
    assert "no sending domain" in cli.refused(
        "enqueue",
        "--from",
        "a@unknown.example",
        "--to",
        "x@dest.test",
        "--kind",
        "campaign",
        "--as",
        "bruno",
    )
    assert "not an email address" in cli.refused(
        "enqueue",
        "--from",
        "deals@offers.bolt.example",
        "--to",
        "not an address",
        "--kind",
        "campaign",
        "--as",
        "bruno",
    )
    assert "between 1 and" in cli.refused(
        "enqueue",
        "--from",
        "deals@offers.bolt.example",
        "--to",
        "x@dest.test",
        "--kind",
        "campaign",
        "--count",
        "0",
        "--as",
        "bruno",
    )
    assert messages(engine) == []


def test_sender_options_are_checked(cli):
    assert "HOST:PORT" in cli.refused("sender", "--relay", "localhost", "--until-empty")
    assert cli.refused("sender", "--per-ip", "0", "--until-empty") == (
        "mailpools: --per-ip must be from 1 to 100, not 0."
    )


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("--concurrency", "100000000"), "--concurrency must be from 1 to 1,000, not 100000000."),
        (("--batch", "0"), "--batch must be from 1 to 10,000, not 0."),
        (("--smtp-port", "70000"), "--smtp-port must be from 1 to 65,535, not 70000."),
        (("--lease", "0.5"), "--lease must be from 1 to 86,400, not 0.5."),
        (("--max-age", "1"), "--max-age must be from 60 to 2,592,000, not 1.0."),
        (("--backoff", "100", "--max-backoff", "10"), "--max-backoff must be at least --backoff"),
        (("--relay", "127.0.0.1:²"), "--relay has no valid port in '127.0.0.1:²'"),
        (("--nameserver", "127.0.0.1:99999"), "--nameserver has no valid port"),
        (("--per-destination", "0"), "--per-destination must be from 1 to 100, not 0."),
        (("--connect-timeout", "0.5"), "--connect-timeout must be from 1 to 600, not 0.5."),
        (("--greeting-timeout", "7200"), "--greeting-timeout must be from 1 to 3,600"),
        (("--data-timeout", "0"), "--data-timeout must be from 1 to 3,600, not 0.0."),
    ],
    ids=[
        "concurrency",
        "batch",
        "port",
        "lease",
        "max-age",
        "backoffs",
        "relay-digit",
        "dns-port",
        "per-destination",
        "connect-timeout",
        "greeting-timeout",
        "data-timeout",
    ],
)
def test_every_sender_number_has_a_range_checked_before_anything_starts(
    cli, engine, args, sentence
):
    before = messages(engine)
    assert sentence in cli.refused("sender", "--until-empty", "--relay", "127.0.0.1:1", *args)
    assert messages(engine) == before


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--backoff", "NaN"),
        ("--timeout", "inf"),
        ("--lease", "-5"),
        ("--timeout", "1e400"),
        ("--batch", "٣"),
        ("--batch", " 5 "),
        ("--concurrency", "9223372036854775808"),
    ],
)
def test_numbers_that_are_not_plain_digits_are_a_usage_error(cli, option, value):
    result = cli.run("sender", "--until-empty", f"{option}={value}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"argument {option}: must be" in result.stderr


def test_an_id_too_large_for_the_database_is_a_usage_error_not_a_traceback(cli):
    result = cli.run("requests", "approve", "9223372036854775808", "--as", "sam")
    assert result.returncode == 2
    assert "argument ID: must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_complaints_feed_the_domain_and_ip_stats(cli, engine):
    cli.ok(
        "enqueue",
        "--from",
        "deals@offers.bolt.example",
        "--to",
        "x@dest.test",
        "--kind",
        "campaign",
        "--count",
        "3",
        "--as",
        "bruno",
    )
    with LoopbackSink() as sink:
        run = cli.run("sender", "--until-empty", "--relay", f"127.0.0.1:{sink.port}")
        assert run.returncode == 0, run.stderr
    # Not on a terminal, progress comes as plain lines on stderr.
    assert "sent 3 (" in run.stderr and "deferred 0" in run.stderr
    sent = messages(engine)
    recorded = cli.json(
        "complaints",
        "record",
        "--message-id",
        sent[0].message_id,
        "--message-id",
        sent[1].message_id.strip("<>"),
        "--as",
        "sam",
    )
    assert recorded == {"complaints": 2, "domains": ["offers.bolt.example"], "already": 0}
    # Passed on by hand, a complaint is kept and acted on like a feedback report's.
    events = cli.json("events", "--kind", "complaint", "--as", "sam")
    assert sorted(e["message_id"] for e in events) == sorted(m.message_id for m in sent[:2])
    assert {e["source"] for e in events} == {"manual"}
    listed = cli.json("suppressions", "list", "--account", "bolt", "--as", "sam")
    assert {(row["address"], row["created_by"]) for row in listed} >= {("x@dest.test", "sam")}
    again = cli.ok("complaints", "record", "--message-id", sent[0].message_id, "--as", "tess")
    assert "Recorded no complaint. 1 message had a complaint on record already" in again
    cli.ok(
        "complaints", "record", "--domain", "offers.bolt.example", "--count", "5", "--as", "tess"
    )
    with session_scope(engine) as session:
        [domain_id] = set(session.exec(select(DomainDailyStat.domain_id)))
        day = day_totals(session, DomainDailyStat, "domain_id", domain_id)
        assert day.complaints == 7 and day.sent == 3
        by_ip = {row.ip_id: row.complaints for row in session.exec(select(IpDailyStat))}
        assert by_ip[sent[0].ip_id] >= 1 and sum(by_ip.values()) == 2
    assert "agents and admins" in cli.refused(
        "complaints", "record", "--domain", "offers.bolt.example", "--count", "1", "--as", "bruno"
    )
    assert "No message has the Message-ID" in cli.refused(
        "complaints", "record", "--message-id", "<nope@x>", "--as", "sam"
    )


def test_warmup_show_prints_the_plan(cli, engine):
    make_dedicated(engine, ["news.acme.example"], volume=50_000, ips=["127.0.0.20"])
    shown = cli.json("warmup", "show", "news.acme.example", "--as", "alice")
    assert shown["planned_days"] == 45 and shown["current_day"] == 1
    assert len(shown["plan"]) == 45 and shown["plan"][-1]["dedicated_share"] == 1.0
    assert shown["expected_completion"] == "2027-01-10"
    text = cli.ok("warmup", "show", "news.acme.example")
    assert (
        "day 1 of 45" in text and "<- today" in text and "Expected completion: 2027-01-10" in text
    )
    assert cli.refused("warmup", "show", "news.acme.example", "--as", "bruno") == cli.refused(
        "warmup", "show", "news.nowhere.example", "--as", "bruno"
    ).replace("nowhere", "acme")


def test_a_large_enqueue_gives_every_message_its_own_message_id(cli, engine):
    printed = cli.ok(
        "enqueue",
        "--from",
        "deals@offers.bolt.example",
        "--to",
        "x@dest.test",
        "--kind",
        "broadcast",
        "--count",
        "12000",
        "--as",
        "bruno",
    )
    assert "Queued 12,000 broadcast messages" in printed
    with session_scope(engine) as session:
        ids = session.exec(select(Message.message_id)).all()
    assert len(ids) == len(set(ids)) == 12_000


def test_sender_ips_must_be_inventory_addresses_bound_here(cli, engine):
    with LoopbackSink() as sink:
        relay = ("--until-empty", "--relay", f"127.0.0.1:{sink.port}", "--quiet")
        assert "not '127.0.0'" in cli.refused("sender", *relay, "--ips", "127.0.0")
        # 127.0.0.99 is bound (all of 127/8 is) but no IP of the inventory.
        assert "127.0.0.99, not an IP address of the inventory" in cli.refused(
            "sender", *relay, "--ips", "127.0.0.2", "127.0.0.99"
        )
        printed = cli.ok("sender", *relay, "--ips", "127.0.0.2")
    assert "claimed 0" in printed
    assert "--host goes with --drain" in cli.refused("sender", "--host", "mx1")


def test_draining_a_host_where_no_sender_runs_is_refused(cli):
    assert "No sender is running on mx9.test" in cli.refused(
        "sender", "--drain", "--host", "mx9.test"
    )
