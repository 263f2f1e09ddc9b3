"""Refusals that tell nothing and change nothing, through `main(argv)` on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from app.services import pools
from data.db import session_scope
from tests.command_line import Cli, run_in_process
from tests.database_state import database_state
from tests.factories import build_world, user


@pytest.fixture
def cli(database_url, engine, monkeypatch):
    build_world(engine)
    return Cli(database_url, monkeypatch)


# Each line names something of bolt's (BOLT) as alice, an owner of acme; the same line
# with a name nobody has must be refused in the same words, the name aside.
OWNER_LINES = [
    ("domains", "show", "{domain}", "--as", "alice"),
    ("warmup", "show", "{domain}", "--as", "alice"),
    ("audit", "--domain", "{domain}", "--as", "alice"),
    ("requests", "list", "--domain", "{domain}", "--as", "alice"),
    ("domains", "list", "--account", "{account}", "--as", "alice"),
    ("audit", "--account", "{account}", "--as", "alice"),
    ("requests", "list", "--account", "{account}", "--as", "alice"),
    (
        "request",
        "transactional",
        "{domain}",
        "--reason",
        "Password resets and order receipts for the customers of our shop.",
        "--confirm",
        "{domain}",
        "--as",
        "alice",
    ),
    ("request", "dedicated", "{domain}", "--volume", "80k", "--as", "alice"),
    ("request", "dedicated", "acme.example", "{domain}", "--volume", "80k", "--as", "alice"),
    (
        "enqueue",
        "--from",
        "news@{domain}",
        "--to",
        "x@dest.test",
        "--kind",
        "transactional",
        "--as",
        "alice",
    ),
]


@pytest.mark.parametrize("line", OWNER_LINES, ids=lambda line: " ".join(line[:2]))
def test_another_accounts_names_are_refused_as_unknown_ones(cli, engine, line):
    def refusal(domain: str, account: str) -> str:
        args = [part.format(domain=domain, account=account) for part in line]
        return cli.refused(*args)

    before = database_state(engine)
    theirs = refusal("bolt.example", "bolt")
    nobodys = refusal("nowhere.example", "nowhere")
    assert "bolt" in theirs
    assert theirs == nobodys.replace("nowhere", "bolt")
    assert "own account" not in theirs
    assert database_state(engine) == before


def _run_as_environment_user(monkeypatch, database_url: str, name: str, *args: str):
    monkeypatch.setenv("MAILPOOLS_DATABASE_URL", database_url)
    monkeypatch.setenv("MAILPOOLS_USER", name)
    return run_in_process(args)


def test_reads_honour_mailpools_user_as_changes_do(cli, database_url, monkeypatch):
    listed = _run_as_environment_user(
        monkeypatch, database_url, "bruno", "domains", "list", "--json"
    )
    assert listed.returncode == 0, listed
    assert {row["account"] for row in json.loads(listed.stdout)} == {"bolt"}
    audit = _run_as_environment_user(monkeypatch, database_url, "bruno", "audit", "--json")
    assert {event["account"] for event in json.loads(audit.stdout)} == {"bolt"}
    shown = _run_as_environment_user(
        monkeypatch, database_url, "bruno", "domains", "show", "acme.example"
    )
    assert shown.returncode == 1
    assert shown.stderr == "mailpools: There is no sending domain named 'acme.example'.\n"
    # Without MAILPOOLS_USER or --as, the local operator reads everything.
    everything = cli.json("domains", "list")
    assert {row["account"] for row in everything} == {"acme", "bolt", "corvid"}


@pytest.mark.parametrize(
    ("name", "sentence"),
    [
        ("sam ", "--as has spaces around it ('sam '); write it without them."),
        (" sam", "--as has spaces around it (' sam'); write it without them."),
        ("sam\n", "--as holds characters that do not print ('sam\\n')"),
        ("sa\u202em", "--as holds characters that do not print ('sa\\u202em')"),
        ("", "--as is empty."),
        ("s" * 201, "--as is longer than 200 characters."),
        ("Sam", "There is no user named 'Sam'."),
    ],
    ids=["trailing", "leading", "newline", "bidi", "empty", "long", "case"],
)
def test_only_the_exact_user_name_acts(cli, engine, name, sentence):
    before = database_state(engine)
    refusal = cli.refused("ips", "pause", "127.0.0.2", "--as", name)
    assert sentence in refusal
    assert database_state(engine) == before


@pytest.mark.parametrize(
    ("reason", "sentence"),
    [
        ("-1", "Write the reason in words"),
        ("1e9", "Write the reason in words"),
        ("٣", "Write the reason in words"),
        ("   ", "Say why the domain is removed"),
        ("Bounces " * 80, "Keep the reason under 500 characters; this one has 639."),
        ("Bounces\x00 high.", "--reason holds characters that do not print"),
    ],
    ids=["negative", "exponent", "arabic-digit", "blank", "long", "nul"],
)
def test_reasons_owners_read_are_words(cli, engine, reason, sentence):
    before = database_state(engine)
    refusal = cli.refused("domains", "remove", "bolt.example", "--reason", reason, "--as", "sam")
    assert sentence in refusal
    assert database_state(engine) == before


def test_denial_reasons_follow_the_same_rule(cli, engine):
    with session_scope(engine) as session:
        pools.remove_domain(session, user(session, "sam"), "corvid.example", reason="No.")
    filed = cli.json(
        "request", "dedicated", "news.acme.example", "--volume", "80k", "--as", "alice"
    )
    before = database_state(engine)
    refusal = cli.refused("requests", "deny", str(filed["id"]), "--reason", "1e9", "--as", "sam")
    assert "Write the reason in words" in refusal
    assert database_state(engine) == before
    assert "is denied" in cli.ok(
        "requests", "deny", str(filed["id"]), "--reason", "No.", "--as", "sam"
    )


@pytest.mark.parametrize(
    ("day", "sentence"),
    [
        ("0001-01-01", "0001-01-01 is more than 365 days ago"),
        ("2025-11-25", "2025-11-25 is more than 365 days ago"),
        ("9999-12-31", "9999-12-31 is in the future"),
        ("20261126", "--day must be a date like 2026-11-26, not '20261126'."),
        ("2026-W48-4", "--day must be a date like 2026-11-26"),
        ("2026-02-30", "--day must be a date like 2026-11-26"),
        ("٢٠٢٦-١١-٢٦", "--day must be a date like 2026-11-26"),
    ],
)
def test_absurd_complaint_days_are_refused(cli, engine, day, sentence):
    before = database_state(engine)
    refusal = cli.refused(
        "complaints", "record", "--domain", "acme.example", "--count", "1", "--day", day,
        "--as", "sam",
    )  # fmt: skip
    assert sentence in refusal
    assert database_state(engine) == before


def _enqueue(option: str, value: str) -> tuple[str, ...]:
    """An owner's valid enqueue with OPTION set to VALUE."""
    given = {"--from": "news@acme.example", "--to": "x@dest.test", option: value}
    return ("enqueue", *[part for pair in given.items() for part in pair], "--kind",
            "transactional", "--as", "alice")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("domains", "show", "a" * 256), "DOMAIN is longer than 255 characters."),
        (("ips", "list", "--pool", "p" * 201), "--pool is longer than 200 characters."),
        (("ips", "pause", "1" * 46, "--as", "sam"), "ADDRESS is longer than 45 characters."),
        (
            ("complaints", "record", "--message-id", "<" + "m" * 998 + ">", "--as", "sam"),
            "--message-id is longer than 998 characters.",
        ),
        (_enqueue("--from", "a" * 310 + "@acme.example"), "--from is longer than 320 characters."),
        (
            _enqueue("--from", "a" * 65 + "@acme.example"),
            "The from address's local part (before the @) is longer than 64 characters.",
        ),
        (_enqueue("--subject", "s" * 999), "The subject is longer than 998 characters."),
        (("audit", "--kind", "k" * 101), "--kind is longer than 100 characters."),
    ],
    ids=["domain", "pool", "address", "message-id", "from", "local-part", "subject", "kind"],
)
def test_size_limits_are_named_in_one_sentence(cli, engine, args, sentence):
    before = database_state(engine)
    assert sentence in cli.refused(*args)
    assert database_state(engine) == before


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("domains", "show"), "the following arguments are required: DOMAIN"),
        (("requests", "list", "--status", "open\nnow"), "invalid choice: 'open\\nnow'"),
        (("audit", "--limit", "x" * 500), "argument --limit: must be a whole number"),
        (
            ("domains", "show", "a.example", "--bogus\nflag"),
            "unrecognized arguments: --bogus\\nflag",
        ),
    ],
    ids=["missing", "choice", "long", "unknown-option"],
)
def test_usage_errors_are_one_line_that_says_where_help_is(cli, args, sentence):
    result = cli.run(*args)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert sentence in line
    assert line.endswith("--help)")
    assert len(line) < 500


@pytest.mark.parametrize("nameserver", ["NaN", "dns.example", "dns.example:53", "localhost"])
def test_the_nameserver_is_an_ip_address(cli, nameserver):
    refusal = cli.refused("sender", "--until-empty", "--nameserver", nameserver)
    assert refusal.startswith("mailpools: --nameserver needs an IP address")
