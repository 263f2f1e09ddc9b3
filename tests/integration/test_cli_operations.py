"""`mailpools pools|ips|domains|warmup` through `main(argv)`, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import Session, select

from app.console.agent_backend import AgentBackend
from app.services.requests.decisions import approve
from app.services.requests.filing import request_dedicated
from data.db import session_scope
from data.models import AuditEvent, Domain, IpAddress, Notification, Warmup
from tests.command_line import Cli
from tests.factories import build_world, record_domain_day, user

TODAY = date(2026, 11, 26)


@pytest.fixture
def cli(database_url, engine, monkeypatch):
    build_world(engine)
    return Cli(database_url, monkeypatch)


@pytest.fixture
def sqlite_cli(sqlite_url, sqlite_engine, monkeypatch):
    build_world(sqlite_engine)
    return Cli(sqlite_url, monkeypatch)


def _ip(engine, address: str) -> IpAddress:
    with Session(engine) as session:
        return session.exec(select(IpAddress).where(IpAddress.address == address)).one()


def _actions(engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id))
        return [
            (e.actor, e.action, e.entity_id)
            for e in events
            if not e.action.startswith(("inventory", "dkim", "request"))
        ]


def test_pools_and_ips_listings(cli):
    pools = cli.json("pools", "list")
    assert [p["name"] for p in pools] == ["shared-a", "shared-b", "transactional"]
    assert pools[2]["thresholds"]["max_bounce_rate"] == 0.02
    assert [ip["address"] for ip in pools[0]["ips"]] == ["127.0.0.2", "127.0.0.3"]
    assert sum(len(p["domains"]) for p in pools) == 7
    assert set(pools[0]["today"]) >= {"sent", "bounce_rate", "complaint_rate"}

    ips = cli.json("ips", "list", "--pool", "shared-b")
    assert [(ip["address"], ip["state"], ip["weight"], ip["blocklisted"]) for ip in ips] == [
        ("127.0.0.4", "active", 1, False),
        ("127.0.0.5", "active", 1, False),
    ]
    table = cli.ok("ips", "list")
    assert "127.0.0.25" in table and "free" in table
    assert "no pool named 'nowhere'" in cli.refused("ips", "list", "--pool", "nowhere")


def test_ip_pause_resume_and_weight(cli, engine):
    assert "paused" in cli.ok("ips", "pause", "127.0.0.2", "--as", "sam")
    assert _ip(engine, "127.0.0.2").state == "paused"
    assert "already paused" in cli.refused("ips", "pause", "127.0.0.2", "--as", "sam")
    assert "active again" in cli.ok("ips", "resume", "127.0.0.2", "--as", "tess")
    assert _ip(engine, "127.0.0.2").state == "active"
    assert "weight 7" in cli.ok("ips", "weight", "127.0.0.3", "7", "--as", "root")
    assert _ip(engine, "127.0.0.3").weight == 7
    assert "whole number" in cli.refused("ips", "weight", "127.0.0.3", "lots", "--as", "sam")
    assert "out of range" in cli.refused("ips", "weight", "127.0.0.3", "500", "--as", "sam")
    assert "no IP address '10.0.0.1'" in cli.refused("ips", "pause", "10.0.0.1", "--as", "sam")
    assert _ip(engine, "127.0.0.3").weight == 7
    assert _actions(engine) == [
        ("sam", "ip.pause", "127.0.0.2"),
        ("tess", "ip.resume", "127.0.0.2"),
        ("root", "ip.weight", "127.0.0.3"),
    ]


def test_domain_remove_and_reinstate(cli, engine):
    assert "reason" in cli.run("domains", "remove", "bolt.example", "--as", "sam").stderr
    assert "Say why" in cli.refused(
        "domains", "remove", "bolt.example", "--reason", "  ", "--as", "sam"
    )
    assert "words the owner can act on" in cli.refused(
        "domains", "remove", "bolt.example", "--reason", "x", "--as", "sam"
    )
    cli.ok(
        "domains",
        "remove",
        "bolt.example",
        "--reason",
        "Bounce rate at 9% all week.",
        "--as",
        "sam",
    )
    with Session(engine) as session:
        domain = session.exec(select(Domain).where(Domain.name == "bolt.example")).one()
        assert (domain.status, domain.removed_reason) == ("removed", "Bounce rate at 9% all week.")
        titles = [n.title for n in session.exec(select(Notification))]
    assert titles == ["bolt.example was removed from its pool"]
    assert "already removed" in cli.refused(
        "domains", "remove", "bolt.example", "--reason", "again", "--as", "tess"
    )
    cli.ok("domains", "reinstate", "bolt.example", "--as", "tess")
    assert "nothing to reinstate" in cli.refused(
        "domains", "reinstate", "bolt.example", "--as", "tess"
    )
    assert _actions(engine) == [
        ("sam", "domain.remove", "bolt.example"),
        ("tess", "domain.reinstate", "bolt.example"),
    ]


def test_warmup_pause_and_resume(cli, engine):
    assert "no dedicated IP warm-up" in cli.refused(
        "warmup", "pause", "bolt.example", "--as", "sam"
    )
    with session_scope(engine) as session:
        request = request_dedicated(
            session, user(session, "bruno"), ["offers.bolt.example"], weekly_volume=90_000
        ).subject
        request_id = request.id
    with session_scope(engine) as session:
        approve(session, user(session, "tess"), request_id)
    [listed] = cli.json("warmup", "list")
    assert (listed["pool"], listed["domains"], listed["day"], listed["state"]) == (
        "bolt-dedicated-1",
        ["offers.bolt.example"],
        1,
        "running",
    )
    cli.ok("warmup", "pause", "offers.bolt.example", "--as", "sam")
    with Session(engine) as session:
        assert session.exec(select(Warmup)).one().state == "paused"
    assert "already paused" in cli.refused("warmup", "pause", "offers.bolt.example", "--as", "sam")
    cli.ok("warmup", "resume", "offers.bolt.example", "--as", "sam")
    with Session(engine) as session:
        assert session.exec(select(Warmup)).one().state == "running"
    assert [a[1] for a in _actions(engine)] == ["warmup.pause", "warmup.resume"]


@pytest.mark.parametrize(
    "args",
    [
        ("pools", "list", "--as", "alice"),
        ("ips", "list", "--as", "alice"),
        ("ips", "pause", "127.0.0.2", "--as", "alice"),
        ("ips", "resume", "127.0.0.2", "--as", "alice"),
        ("ips", "weight", "127.0.0.2", "3", "--as", "alice"),
        ("domains", "remove", "acme.example", "--reason", "mine", "--as", "alice"),
        ("domains", "reinstate", "acme.example", "--as", "alice"),
        ("warmup", "pause", "acme.example", "--as", "alice"),
        ("warmup", "resume", "acme.example", "--as", "alice"),
        ("warmup", "list", "--as", "alice"),
        ("flags", "--as", "alice"),
    ],
)
def test_owners_are_refused_and_nothing_changes(sqlite_cli, sqlite_engine, args):
    assert "alice is an owner" in sqlite_cli.refused(*args)
    assert _actions(sqlite_engine) == []
    assert _ip(sqlite_engine, "127.0.0.2").state == "active"


def test_flags_listing(cli, engine):
    for offset in range(7):
        record_domain_day(
            engine, "news.acme.example", TODAY - timedelta(days=offset), sent=1_000, complaints=3
        )
    flagged = cli.json("flags")
    assert flagged["low_volume_dedicated_ips"] == []
    [near] = flagged["domains_near_thresholds"]
    assert (near["name"], near["account"], near["judged"]) == ("news.acme.example", "acme", True)
    assert near["closeness"] == pytest.approx(1.0)


def test_the_command_line_and_the_console_say_the_same_of_each_change(cli, engine):
    console = AgentBackend(engine, "tess")

    def through_both(cli_args: list[str], console_action, undo_args: list[str], undo) -> None:
        said_by_cli = cli.ok(*cli_args, "--as", "sam").strip()
        said_by_cli_undoing = cli.ok(*undo_args, "--as", "sam").strip()
        assert console_action() == said_by_cli
        assert undo() == said_by_cli_undoing

    through_both(
        ["domains", "remove", "bolt.example", "--reason", "Bounces at 9%."],
        lambda: console.remove_domain("bolt.example", "Bounces at 9%."),
        ["domains", "reinstate", "bolt.example"],
        lambda: console.reinstate_domain("bolt.example"),
    )
    through_both(
        ["ips", "pause", "127.0.0.2"],
        lambda: console.pause_ip("127.0.0.2"),
        ["ips", "resume", "127.0.0.2"],
        lambda: console.resume_ip("127.0.0.2"),
    )
    assert "held until it is reinstated" in console.remove_domain("bolt.example", "Again.")
