"""The command line end to end, on SQLite and PostgreSQL.

The commands run in this process through `main(argv)`; the first and the last
tests also run the real entry point as a separate process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlmodel import Session, select

from data.models import AuditEvent, Domain, IpAddress, PoolRequest, Warmup
from tests.command_line import ROOT, Cli
from tests.database_state import database_state
from tests.factories import DEMO_INVENTORY


@pytest.fixture
def cli(database_url, engine, monkeypatch):
    cli = Cli(database_url, monkeypatch)
    cli.ok("inventory", "apply", str(DEMO_INVENTORY))
    return cli


def _count(engine, model) -> int:
    with Session(engine) as session:
        return len(session.exec(select(model)).all())


def test_db_upgrade_on_an_empty_database_then_inventory(tmp_path, monkeypatch):
    cli = Cli(f"sqlite:///{tmp_path / 'new.db'}", monkeypatch, separate_process=True)
    assert "Created the database's schema" in cli.ok("db", "upgrade")
    assert "already up to date" in cli.ok("db", "upgrade")
    first = cli.json("inventory", "apply", str(DEMO_INVENTORY))
    assert "domain acme.example" in first["created"]
    # Each new domain's DKIM key, made after the file's transaction, in worker processes.
    new_domains = [e.removeprefix("domain ") for e in first["created"] if e.startswith("domain ")]
    assert sorted(first["dkim_keys_made"]) == sorted(new_domains) != []
    second = cli.json("inventory", "apply", str(DEMO_INVENTORY))
    assert second["created"] == [] and second["updated"] == []
    assert second["unchanged"] == len(first["created"])
    assert second["dkim_keys_made"] == []


def test_inventory_reports_entries_missing_from_the_file(cli, tmp_path):
    smaller = tmp_path / "smaller.toml"
    smaller.write_text('[[accounts]]\nname = "acme"\nplan = "standard"\n')
    report = cli.json("inventory", "apply", str(smaller))
    assert report["updated"] == ["account acme: plan 'premium' → 'standard'"]
    assert "domain bolt.example" in report["missing_from_file"]
    assert any(row["name"] == "bolt.example" for row in cli.json("domains", "list"))


def test_inventory_error_names_file_entry_and_field(cli, tmp_path, engine):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[accounts]]\nname = "zeta"\nplan = "premium"\n'
        '[[domains]]\nname = "zeta.example"\naccount = "nobody"\n'
    )
    before = _count(engine, AuditEvent)
    message = cli.refused("inventory", "apply", str(bad))
    assert str(bad) in message and "domains[0]" in message and "'account'" in message
    assert "nobody" in message
    assert _count(engine, AuditEvent) == before
    assert not any(row["account"] == "zeta" for row in cli.json("domains", "list"))


def test_domains_list_and_show(cli):
    rows = cli.json("domains", "list", "--account", "acme")
    assert sorted(r["name"] for r in rows) == [
        "acme.example",
        "billing.acme.example",
        "news.acme.example",
    ]
    assert {r["sending_mode"] for r in rows} == {"shared"}
    shown = cli.json("domains", "show", "acme.example")
    assert shown["summary"]["pool"] in {"shared-a", "shared-b"}
    assert shown["ips"] and all(ip["address"].startswith("127.0.0.") for ip in shown["ips"])
    assert "no sending domain named 'nope.example'" in cli.refused(
        "domains", "show", "nope.example"
    )
    people = cli.ok("domains", "list")
    assert "acme.example" in people and "SENDS FROM" in people


def test_transactional_request_flow(cli, engine):
    reason = "Password resets and order receipts for customers of our web shop."
    filed = cli.json(
        "request",
        "transactional",
        "acme.example",
        "--reason",
        reason,
        "--confirm",
        "ACME.EXAMPLE",
        "--as",
        "alice",
    )
    assert filed["status"] == "pending" and filed["domains"] == ["acme.example"]
    again = cli.refused(
        "request",
        "transactional",
        "acme.example",
        "--reason",
        reason,
        "--confirm",
        "acme.example",
        "--as",
        "alice",
    )
    assert "already has an open" in again
    assert "own request" not in cli.refused(
        "requests", "approve", str(filed["id"]), "--as", "alice"
    )
    approved = cli.json("requests", "approve", str(filed["id"]), "--as", "sam")
    assert approved["status"] == "approved" and approved["reviewer"] == "sam"
    assert "already approved by sam" in cli.refused(
        "requests", "deny", str(filed["id"]), "--reason", "no", "--as", "tess"
    )
    assert cli.json("domains", "show", "acme.example")["summary"]["sending_mode"] == "transactional"
    pending = cli.json("requests", "list", "--status", "pending")
    assert pending == []


def test_refusals_change_nothing(cli, engine):
    before = (_count(engine, PoolRequest), _count(engine, AuditEvent))
    cases = [
        (
            (
                "request",
                "transactional",
                "news.acme.example",
                "--reason",
                "x " * 10,
                "--confirm",
                "news.acme.example",
                "--as",
                "alice",
            ),
            "not used with the transactional service",
        ),
        (
            (
                "request",
                "transactional",
                "acme.example",
                "--reason",
                "   ",
                "--confirm",
                "acme.example",
                "--as",
                "alice",
            ),
            "justification is empty",
        ),
        (
            (
                "request",
                "transactional",
                "acme.example",
                "--reason",
                "Receipts and password resets for the people who buy in our shop.",
                "--confirm",
                "acme.exampel",
                "--as",
                "alice",
            ),
            "Type the domain name",
        ),
        (
            (
                "request",
                "transactional",
                "bolt.example",
                "--reason",
                "Receipts and password resets for the people who buy in our shop.",
                "--confirm",
                "bolt.example",
                "--as",
                "alice",
            ),
            "There is no sending domain named 'bolt.example'.",
        ),
        (
            ("request", "dedicated", "news.acme.example", "--volume", "49,999", "--as", "alice"),
            "at least 50,000",
        ),
        (
            ("request", "dedicated", "news.acme.example", "--volume", "lots", "--as", "alice"),
            "is not a number",
        ),
        (
            (
                "request",
                "dedicated",
                "news.acme.example",
                "--volume",
                "80k",
                "--ips",
                "11",
                "--as",
                "alice",
            ),
            "between 1 and 10",
        ),
        (
            (
                "request",
                "dedicated",
                "news.acme.example",
                "bolt.example",
                "--volume",
                "80k",
                "--as",
                "alice",
            ),
            "There is no sending domain named 'bolt.example'.",
        ),
        (("requests", "approve", "99", "--as", "sam"), "no request #99"),
        (
            ("request", "dedicated", "news.acme.example", "--volume", "80k", "--as", "nobody"),
            "no user named 'nobody'",
        ),
    ]
    for args, expected in cases:
        message = cli.refused(*args)
        assert expected in message, (args, message)
    assert (_count(engine, PoolRequest), _count(engine, AuditEvent)) == before


def test_dedicated_request_quote_approval_and_warmup(cli, engine):
    first = cli.json(
        "request",
        "dedicated",
        "news.acme.example",
        "--volume",
        "80,000",
        "--ips",
        "2",
        "--as",
        "alice",
    )
    assert first["monthly_cost_cents"] == 0
    second = cli.json(
        "request",
        "dedicated",
        "billing.acme.example",
        "--volume",
        "60k",
        "--ips",
        "2",
        "--as",
        "alice",
    )
    # Premium: three free IPs in total, so the fourth costs $50.
    assert second["monthly_cost_cents"] == 5000
    standard = cli.json(
        "request", "dedicated", "offers.bolt.example", "--volume", "50000", "--as", "bruno"
    )
    assert standard["monthly_cost_cents"] == 5000
    cli.json(
        "requests",
        "approve",
        str(first["id"]),
        "--as",
        "sam",
        "--ip",
        "127.0.0.23",
        "--ip",
        "127.0.0.24",
    )
    shown = cli.json("domains", "show", "news.acme.example")
    assert shown["summary"]["sending_mode"] == "dedicated"
    assert sorted(ip["address"] for ip in shown["ips"]) == ["127.0.0.23", "127.0.0.24"]
    assert shown["summary"]["warmup"]["day"] == 1
    with Session(engine) as session:
        warmup = session.exec(select(Warmup)).one()
        assert 30 <= warmup.planned_days <= 45
        owned = session.exec(select(IpAddress).where(IpAddress.account_id.is_not(None))).all()
        assert {ip.address for ip in owned} == {"127.0.0.23", "127.0.0.24"}
    denied = cli.json(
        "requests",
        "deny",
        str(standard["id"]),
        "--reason",
        "Volume history is too short.",
        "--as",
        "tess",
    )
    assert denied["decision_reason"] == "Volume history is too short."
    with Session(engine) as session:
        domain = session.exec(select(Domain).where(Domain.name == "offers.bolt.example")).one()
        assert domain.sending_mode == "shared"


def test_not_enough_free_ips_is_refused_and_changes_nothing(cli, engine):
    filed = cli.json(
        "request", "dedicated", "corvid.example", "--volume", "1m", "--ips", "7", "--as", "carla"
    )
    message = cli.refused("requests", "approve", str(filed["id"]), "--as", "sam")
    assert "Only 6 free dedicated IPs" in message
    assert cli.json("requests", "list", "--status", "pending")[0]["id"] == filed["id"]


def test_audit_lists_who_did_what(cli):
    cli.json("request", "dedicated", "news.acme.example", "--volume", "80k", "--as", "alice")
    events = cli.json("audit", "--user", "alice")
    assert events[0]["action"] == "request.dedicated.file"
    assert events[0]["after"]["expected_weekly_volume"] == 80_000
    assert all(e["actor"] == "alice" for e in events)
    assert cli.json("audit", "--kind", "inventory.domain")


@pytest.mark.parametrize("separate_process", [False, True], ids=["in-process", "subprocess"])
def test_an_unusable_database_is_explained_in_one_sentence(tmp_path, monkeypatch, separate_process):
    cases = [
        (
            f"sqlite:///{tmp_path / 'empty.db'}",
            "no mailpools schema yet: run `mailpools db upgrade`",
        ),
        ("mysql://someone@127.0.0.1/mail", "is not a database mailpools can use"),
        (
            "postgresql://someone:secret@127.0.0.1:1/mail",
            "Cannot use the database at postgresql://someone:***@",
        ),
    ]
    for url, expected in cases:
        message = Cli(url, monkeypatch, separate_process=separate_process).refused(
            "domains", "list"
        )
        assert expected in message
        assert "secret" not in message


@pytest.mark.parametrize(
    "args",
    [
        ("domains", "show", "\udcff"),
        ("requests", "deny", "1", "--reason", "caf\udce9", "--as", "sam"),
        ("inventory", "apply", "/tmp/\udcfe.toml"),
    ],
    ids=["domain", "reason", "path"],
)
def test_an_argument_that_is_not_utf8_is_one_sentence(cli, engine, args):
    """What Python makes of invalid UTF-8 bytes in argv: lone surrogates."""
    before = database_state(engine)
    refusal = cli.refused(*args)
    position = next(i for i, argument in enumerate(args, start=1) if not argument.isascii())
    assert refusal.startswith(f"mailpools: argument {position} is not valid UTF-8 text")
    assert database_state(engine) == before


def test_invalid_utf8_bytes_from_a_real_shell_are_refused(database_url, engine, monkeypatch):
    result = subprocess.run(
        [sys.executable.encode(), b"-m", b"app.cli", b"domains", b"show", b"\xff"],
        cwd=ROOT,
        env={**os.environ, "MAILPOOLS_DATABASE_URL": database_url},
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.decode() == (
        "mailpools: argument 3 is not valid UTF-8 text; names and values must be written in UTF-8.\n"
    )
