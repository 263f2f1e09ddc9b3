"""Hostile values in every argument of every command: refused, in one line, changing nothing.

Each command is written out with one argument left open (SLOT); hypothesis fills it
with what an operator's slip or an attacker would type: bytes that are not UTF-8,
integers past 64 bits, NaN and infinities, negative numbers, digits of other
scripts, control and bidirectional characters, padded, empty and very long values.
Everything else on the line is valid, so the open argument is the one judged.

The runs are derandomized: the same examples every time, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services import pools
from data.db import session_scope
from tests.command_line import Cli
from tests.database_state import database_state
from tests.factories import DEMO_INVENTORY, build_world, user

SLOT = "{}"
SENDER = ("sender", "--until-empty", "--quiet", "--relay", "127.0.0.1:1")


def open_each(line: str, *words: str) -> list[tuple[str, ...]]:
    """The valid command `line`, split as a shell would, once for each of `words` with
    that word's value left open: the value after an option (`--to`), or a positional
    argument itself (its first occurrence)."""
    argv = tuple(shlex.split(line))
    lines = []
    for word in words:
        at = argv.index(word) + (1 if word.startswith("--") else 0)
        lines.append((*argv[:at], SLOT, *argv[at + 1 :]))
    return lines


# Each command's lines, one argument open in each. corvid.example is removed before the
# run, so removing it again is refused after its reason has been read; there are no
# requests, so deciding #1 is refused after the reason or the IP has been read.
COMMANDS: dict[str, list[tuple[str, ...]]] = {
    "db upgrade": [("db", "upgrade", SLOT)],
    "inventory apply": [
        ("inventory", "apply", SLOT),
        ("inventory", "apply", str(DEMO_INVENTORY), "--as", SLOT),
    ],
    "domains list": [("domains", "list", "--account", SLOT), ("domains", "list", "--as", SLOT)],
    "domains show": [("domains", "show", SLOT), ("domains", "show", "acme.example", "--as", SLOT)],
    "domains remove": [
        ("domains", "remove", SLOT, "--reason", "Bounces over the limit.", "--as", "sam"),
        ("domains", "remove", "corvid.example", "--reason", SLOT, "--as", "sam"),
        ("domains", "remove", "acme.example", "--reason", "Bounces.", "--as", SLOT),
    ],
    "domains reinstate": [
        ("domains", "reinstate", SLOT, "--as", "sam"),
        ("domains", "reinstate", "corvid.example", "--as", SLOT),
    ],
    "request transactional": open_each(
        "request transactional acme.example"
        " --reason 'Password resets and order receipts for the customers of our shop.'"
        " --confirm acme.example --as alice",
        "acme.example",
        "--reason",
        "--confirm",
    ),
    "request dedicated": [
        ("request", "dedicated", SLOT, "--volume", "80k", "--as", "alice"),
        ("request", "dedicated", "news.acme.example", "--volume", SLOT, "--as", "alice"),
        ("request", "dedicated", "news.acme.example", "--volume", "80k", "--ips", SLOT),
        ("request", "dedicated", "news.acme.example", "--volume", "80k", "--join", SLOT),
        ("request", "dedicated", "news.acme.example", "--volume", "80k", "--as", SLOT),
    ],
    "requests list": [
        ("requests", "list", "--status", SLOT),
        ("requests", "list", "--kind", SLOT),
        ("requests", "list", "--account", SLOT),
        ("requests", "list", "--domain", SLOT),
        ("requests", "list", "--as", SLOT),
    ],
    "requests approve": [
        ("requests", "approve", SLOT, "--as", "sam"),
        ("requests", "approve", "1", "--ip", SLOT, "--as", "sam"),
        ("requests", "approve", "1", "--as", SLOT),
    ],
    "requests deny": [
        ("requests", "deny", SLOT, "--reason", "Not enough history.", "--as", "sam"),
        ("requests", "deny", "1", "--reason", SLOT, "--as", "sam"),
        ("requests", "deny", "1", "--reason", "Not enough history.", "--as", SLOT),
    ],
    "audit": [
        ("audit", "--account", SLOT),
        ("audit", "--domain", SLOT),
        ("audit", "--user", SLOT),
        ("audit", "--kind", SLOT),
        ("audit", "--limit", SLOT),
        ("audit", "--as", SLOT),
    ],
    "pools list": [("pools", "list", "--as", SLOT)],
    "ips list": [("ips", "list", "--pool", SLOT), ("ips", "list", "--as", SLOT)],
    "ips pause": [
        ("ips", "pause", SLOT, "--as", "sam"),
        ("ips", "pause", "127.0.0.2", "--as", SLOT),
    ],
    "ips resume": [
        ("ips", "resume", SLOT, "--as", "sam"),
        ("ips", "resume", "127.0.0.2", "--as", SLOT),
    ],
    "ips weight": [
        ("ips", "weight", SLOT, "7", "--as", "sam"),
        ("ips", "weight", "127.0.0.2", SLOT, "--as", "sam"),
        ("ips", "weight", "127.0.0.2", "7", "--as", SLOT),
    ],
    "warmup list": [("warmup", "list", "--as", SLOT)],
    "warmup show": [("warmup", "show", SLOT), ("warmup", "show", "acme.example", "--as", SLOT)],
    "warmup pause": [
        ("warmup", "pause", SLOT, "--as", "sam"),
        ("warmup", "pause", "acme.example", "--as", SLOT),
    ],
    "warmup resume": [
        ("warmup", "resume", SLOT, "--as", "sam"),
        ("warmup", "resume", "acme.example", "--as", SLOT),
    ],
    "flags": [("flags", "--as", SLOT)],
    "enqueue": [
        ("enqueue", "--eml", SLOT, "--kind", "campaign", "--as", "bruno"),
        *open_each(
            "enqueue --from news@acme.example --to x@dest.test --kind campaign --as alice",
            "--from",
            "--to",
            "--kind",
            "--as",
        ),
        # sam may not send as a customer: refused once the subject has been read.
        *open_each(
            "enqueue --from news@acme.example --to x@dest.test --kind campaign"
            " --subject Hello --as sam",
            "--subject",
        ),
        *open_each(
            "enqueue --from news@acme.example --to x@dest.test --kind campaign"
            " --count 1 --as alice",
            "--count",
        ),
    ],
    "complaints record": [
        ("complaints", "record", "--message-id", SLOT, "--as", "sam"),
        *open_each(
            "complaints record --domain acme.example --count 2 --as sam",
            "--domain",
            "--count",
            "--as",
        ),
        *open_each("complaints record --domain acme.example --count 2 --ip x --as sam", "--ip"),
        *open_each("complaints record --domain acme.example --count 2 --day x --as sam", "--day"),
    ],
    "sender": [
        (*SENDER, option, SLOT)
        for option in (
            "--smtp-port",
            "--concurrency",
            "--per-ip",
            "--batch",
            "--lease",
            "--timeout",
            "--backoff",
            "--max-backoff",
            "--max-age",
        )
    ]
    + [
        ("sender", "--until-empty", "--quiet", "--relay", SLOT),
        ("sender", "--until-empty", "--quiet", "--nameserver", SLOT),
    ],
    "console": [("console", "--as", SLOT)],
    "ssh-server": [("ssh-server", "--port", SLOT)],
    "submit": [
        ("submit", "--port", SLOT),
        ("submit", "--port", "0", "--tls-cert", SLOT, "--tls-key", SLOT),
    ],
    "credentials create": [
        ("credentials", "create", "--kind", SLOT, "--as", "alice"),
        ("credentials", "create", "--kind", "campaign", "--as", SLOT),
    ],
    "credentials list": [("credentials", "list", "--as", SLOT)],
    "credentials revoke": [
        ("credentials", "revoke", SLOT, "--as", "alice"),
        ("credentials", "revoke", "1", "--as", SLOT),
    ],
    "content purge": [("content", "purge", "--days", SLOT)],
    "messages prune": [
        ("messages", "prune", "--days", SLOT),
        ("messages", "prune", "--batch", SLOT),
    ],
    "inbound": [("inbound", "--port", SLOT), ("inbound", "--host", SLOT, "--port", "0")],
    "events": open_each(
        "events --domain acme.example --kind bounce --limit 5 --as sam",
        "--domain",
        "--kind",
        "--limit",
        "--as",
    ),
    "suppressions list": open_each(
        "suppressions list --account bolt --search dana --as bruno", "--account", "--search", "--as"
    ),
    "suppressions add": open_each(
        "suppressions add dana@dest.test --reason 'Asked us to stop.' --account bolt --as sam",
        "dana@dest.test",
        "--reason",
        "--account",
        "--as",
    ),
    "suppressions remove": open_each(
        "suppressions remove dana@dest.test --account bolt --as sam",
        "dana@dest.test",
        "--account",
        "--as",
    ),
    "dkim show": [("dkim", "show", SLOT)],
    "dns check": [("dns", "check", SLOT), ("dns", "check", "acme.example", "--as", SLOT)],
    "ips check": [
        ("ips", "check", SLOT, "--as", "sam"),
        ("ips", "check", "127.0.0.2", "--as", SLOT),
    ],
    "checks run": [("checks", "run", "--as", SLOT)],
    "dkim rotate": [
        ("dkim", "rotate", SLOT, "--as", "sam"),
        ("dkim", "rotate", "acme.example", "--as", SLOT),
    ],
    "dkim confirm": [
        ("dkim", "confirm", SLOT, "--as", "sam"),
        ("dkim", "confirm", "acme.example", "--as", SLOT),
    ],
}

# Filters that match text without naming anything: a value that names nothing finds
# nothing, and an empty listing is a fine answer (but a hostile one is still refused).
LISTINGS_THAT_MAY_FIND_NOTHING = {
    ("audit", "--user", SLOT),
    ("audit", "--kind", SLOT),
    ("suppressions", "list", "--account", "bolt", "--search", SLOT, "--as", "bruno"),
}

PADDING = [" ", "\t", "\n", "\u00a0", "\u3000", "\u200b"]

HOSTILE_VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\udcff",
            "caf\udce9",
            "\x00",
            "a\x00b",
            "line\nbreak",
            "\r\n",
            "\x1b[31mred",
            "\u202eevil",
            "a\u2066b\u2069",
            "\ufeff",
            "9223372036854775808",
            "-9223372036854775809",
            "-1",
            "0",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "Infinity",
            "1e400",
            "1e9",
            "٣",
            "١٢٣",
            "²",
            "５",
            " 5 ",
            "sam ",
            " alice",
            "acme.example ",
            "x" * 10_000,
        ]
    ),
    st.integers(min_value=2**63, max_value=2**256).map(str),
    st.integers(max_value=-1).map(str),
    st.floats(allow_nan=True, allow_infinity=True)
    .filter(lambda number: not 0 <= number < 1e18)
    .map(repr),
    st.text(
        st.characters(categories=["Nd", "No"], exclude_characters="0123456789"),
        min_size=1,
        max_size=6,
    ),
    st.text(
        st.characters(categories=["Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp"]), min_size=1, max_size=8
    ),
    st.builds(
        lambda core, padding: padding + core + padding,
        st.sampled_from(["sam", "alice", "acme.example", "5", "127.0.0.2", "premium"]),
        st.sampled_from(PADDING),
    ),
    st.builds(
        lambda character, length: character * length,
        st.sampled_from(["a", "é", "9", "\u202e", "-"]),
        st.integers(min_value=300, max_value=20_000),
    ),
)

# Examples per command, on each database: enough to meet every kind of hostile value
# over the suite's runs of all commands, few enough to keep the suite quick.
EXAMPLES_PER_COMMAND = {"sqlite": 8, "postgresql": 4}


@pytest.fixture
def fuzz_world(database_url, engine, monkeypatch):
    build_world(engine)
    with session_scope(engine) as session:
        pools.remove_domain(
            session, user(session, "sam"), "corvid.example", reason="Bounces over the limit."
        )
    return Cli(database_url, monkeypatch), engine


def test_every_command_is_fuzzed():
    """A command added to the command line gets lines here too."""
    from app.cli import build_parser

    parser = build_parser()
    commands = set()
    for name, subparser in parser._subparsers._group_actions[0].choices.items():
        actions = subparser._subparsers._group_actions[0].choices if subparser._subparsers else {}
        commands |= {f"{name} {action}" for action in actions} or {name}
    assert commands == set(COMMANDS)


def test_hostile_values_are_refused_in_one_line_and_change_nothing(fuzz_world, database_url):
    cli, engine = fuzz_world
    before = database_state(engine)
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"

    def check(line: tuple[str, ...], value: str) -> None:
        args = tuple(value if part == SLOT else part for part in line)
        result = cli.run(*args)
        assert "Traceback" not in result.stderr, result
        if result.returncode == 0 and line in LISTINGS_THAT_MAY_FIND_NOTHING:
            assert result.stderr == ""
        else:
            assert result.returncode in (1, 2), result
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert result.stderr.startswith("mailpools"), result.stderr
            assert result.stdout == "", result.stdout
        assert database_state(engine) == before

    # One database for all commands (every run must leave it as it was), one
    # derandomized hypothesis run per command so each gets its share of examples.
    for lines in COMMANDS.values():
        fuzz = settings(
            derandomize=True,
            database=None,
            max_examples=EXAMPLES_PER_COMMAND[backend],
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )(given(line=st.sampled_from(lines), value=HOSTILE_VALUES)(check))
        fuzz()
