"""Broken inventory files through `mailpools inventory apply`: refused in one line, changing nothing.

Each example starts from the demo inventory (already applied, so applying it again
changes nothing) and breaks it one way: a field of one entry set to a hostile value
or of the wrong type, an unknown field or section, or the file's bytes cut short or
spoiled. What the command may do is refuse in one line and leave the database as it
was, or, if the file is still valid, apply it and store only clean names.
"""

from __future__ import annotations

import json
import math
import tomllib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from data.models import Account, Domain, IpAddress, Pool, User
from tests.command_line import Cli
from tests.database_state import database_state
from tests.factories import DEMO_INVENTORY, build_world

DEMO = tomllib.loads(DEMO_INVENTORY.read_text())
EXAMPLES = {"sqlite": 30, "postgresql": 10}


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # JSON's escapes are TOML's, but for DEL, which TOML wants escaped too.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007F")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_document(inventory: dict) -> str:
    lines = []
    for section, entries in inventory.items():
        if not isinstance(entries, list):
            lines.append(f"{toml_value(section)} = {toml_value(entries)}")
            continue
        for entry in entries:
            lines.append(f"[[{toml_value(section)}]]")
            lines += [f"{toml_value(key)} = {toml_value(value)}" for key, value in entry.items()]
    return "\n".join(lines) + "\n"


HOSTILE_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "line\nbreak",
            "\r\n",
            "\x1b[31mred",
            "\u202eevil",
            "a\u2066b\u2069",
            "\ufeff",
            "operator",
            "system",
            "٣",
            "NaN",
            "-1",
            " acme ",
            "x" * 10_000,
            "ssh-ed25519 AAAA",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\nssh-rsa AAAA",
            "mta .example",
            "999.1.1.1",
        ]
    ),
    st.text(st.characters(categories=["Cc", "Cf", "Co", "Zs", "Zl", "Zp"]), max_size=8),
    st.text(max_size=30),
)
HOSTILE_VALUES = st.one_of(
    HOSTILE_TEXT,
    st.integers(min_value=2**63, max_value=2**200),
    st.integers(max_value=-1),
    st.sampled_from([0, 101, 1000, 2**31, True, False, math.nan, math.inf, -math.inf, 1e308]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(date(1, 1, 1)),
    st.lists(HOSTILE_TEXT, max_size=3),
    st.dictionaries(st.sampled_from(["name", "x"]), HOSTILE_TEXT, max_size=2),
)


@st.composite
def broken_inventories(draw) -> bytes:
    inventory = json.loads(json.dumps(DEMO))
    how = draw(st.sampled_from(["field", "field", "field", "unknown", "bytes", "truncate"]))
    if how in ("field", "unknown"):
        section = draw(st.sampled_from(sorted(inventory)))
        entry = draw(st.sampled_from(inventory[section]))
        if how == "field":
            key = draw(st.sampled_from(sorted({*entry, "ssh_keys", "hostname", "weight"})))
        else:
            key = draw(HOSTILE_TEXT.filter(lambda text: text not in entry))
        entry[key] = draw(HOSTILE_VALUES)
        return toml_document(inventory).encode()
    document = toml_document(inventory).encode()
    if how == "truncate":
        return document[: draw(st.integers(min_value=0, max_value=len(document) - 1))]
    at = draw(st.integers(min_value=0, max_value=len(document)))
    spoiled = draw(
        st.sampled_from([b"\xff", b"\x00", b"\xc3", b"[[", b'"', b"\r", b"\xed\xa0\x80"])
    )
    return document[:at] + spoiled + document[at:]


def stored_names(engine) -> list[str]:
    with Session(engine) as session:
        return [
            *session.exec(select(Account.name)),
            *session.exec(select(Pool.name)),
            *session.exec(select(Domain.name)),
            *session.exec(select(User.name)),
            *session.exec(select(IpAddress.address)),
            *session.exec(select(IpAddress.hostname)),
        ]


@pytest.fixture
def inventory_world(database_url, engine, monkeypatch):
    build_world(engine)
    return Cli(database_url, monkeypatch), engine


def test_broken_inventory_files_are_refused_in_one_line(inventory_world, database_url, tmp_path):
    cli, engine = inventory_world
    path: Path = tmp_path / "inventory.toml"
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"

    @settings(
        derandomize=True,
        database=None,
        max_examples=EXAMPLES[backend],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(content=broken_inventories())
    def apply(content: bytes) -> None:
        path.write_bytes(content)
        before = database_state(engine)
        result = cli.run("inventory", "apply", str(path))
        assert "Traceback" not in result.stderr, result
        if result.returncode == 0:
            # Still a valid inventory: whatever it stored is clean.
            for name in stored_names(engine):
                assert name.isprintable() and name == name.strip(), name
            return
        assert result.returncode == 1, result
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert len(result.stderr) < 1_000, result.stderr
        assert result.stdout == ""
        assert database_state(engine) == before

    apply()
