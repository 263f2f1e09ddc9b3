"""Inventory as code: applying a TOML file of pools, IPs, accounts, domains and users."""

from __future__ import annotations

import base64
import json
import struct
from collections import Counter
from pathlib import Path

import asyncssh
import pytest
from sqlmodel import Session, select

from app.services.dkim import make_missing_keys
from app.services.inventory import MAX_FILE_BYTES, InventoryError, apply_inventory, load_file
from app.services.lookups import get_account, get_domain, get_ip, get_pool
from app.services.requests import decisions, filing
from data.db import session_scope
from data.models import AuditEvent, Domain, Pool
from tests.database_state import database_state
from tests.factories import DEMO_INVENTORY, build_world, user

SMALL = """
[[pools]]
name = "shared-x"
kind = "shared"
max_bounce_rate = 0.05
max_complaint_rate = 0.003

[[pools]]
name = "shared-y"
kind = "shared"
max_bounce_rate = 0.04
max_complaint_rate = 0.002
min_sample = 200
window_days = 3

[[ips]]
address = "127.0.0.40"
hostname = "MTA40.Example.TEST."
pool = "shared-x"

[[ips]]
address = "127.0.0.41"
hostname = "d41.example.test"

[[accounts]]
name = "delta"
plan = "standard"

[[domains]]
name = "Bücher.Example"
account = "delta"
transactional_service = true

[[users]]
name = "dora"
role = "owner"
account = "delta"
keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7yOeBgwbCbGp2rqT8hZ3wbW8P4qZQ5xAHcNTrXmm6y dora@laptop"]

[[users]]
name = "otto"
role = "agent"
"""


def write(tmp_path: Path, text: str, name: str = "inventory.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def apply(engine, path: Path, by: str | None = None):
    with session_scope(engine) as session:
        actor = user(session, by) if by else None
        return apply_inventory(session, actor, load_file(path))


def test_a_file_creates_what_it_describes(engine, tmp_path):
    report = apply(engine, write(tmp_path, SMALL))
    assert report.created == [
        "pool shared-x",
        "pool shared-y",
        "ip 127.0.0.40",
        "ip 127.0.0.41",
        "account delta",
        "domain xn--bcher-kva.example",
        "user dora",
        "user otto",
    ]
    assert (report.updated, report.missing) == ([], [])
    with Session(engine) as session:
        pool = get_pool(session, "shared-y")
        assert (pool.kind, pool.max_bounce_rate, pool.min_sample, pool.window_days) == (
            "shared",
            0.04,
            200,
            3,
        )
        assert get_pool(session, "shared-x").min_sample == 500
        ip = get_ip(session, "127.0.0.40")
        assert (ip.hostname, ip.weight, ip.pool_id) == (
            "mta40.example.test",
            1,
            get_pool(session, "shared-x").id,
        )
        assert get_ip(session, "127.0.0.41").pool_id is None  # free dedicated inventory
        domain = get_domain(session, "bücher.example")
        assert domain.name == "xn--bcher-kva.example"
        assert domain.transactional_service is True
        assert (domain.sending_mode, domain.status) == ("shared", "active")
        dora = user(session, "dora")
        assert dora.account_id == get_account(session, "delta").id
        assert dora.ssh_keys.startswith("ssh-ed25519 AAAA")
        assert user(session, "otto").account_id is None
        actions = Counter(e.action for e in session.exec(select(AuditEvent)))
        assert actions == {
            "inventory.pool.create": 2,
            "inventory.ip.create": 2,
            "inventory.account.create": 1,
            "inventory.domain.create": 1,
            "inventory.user.create": 2,
        }
        assert {e.actor for e in session.exec(select(AuditEvent))} == {"operator"}
    # The new domain's DKIM key is made after the commit, audited as the same actor's.
    assert report.keyless == ["xn--bcher-kva.example"]
    assert make_missing_keys(engine, "operator") == ["xn--bcher-kva.example"]
    with Session(engine) as session:
        [made] = session.exec(select(AuditEvent).where(AuditEvent.action == "dkim.created"))
        assert (made.actor, made.entity_id) == ("operator", "xn--bcher-kva.example")
    assert make_missing_keys(engine, "operator") == []


def test_applying_twice_changes_nothing(engine, tmp_path):
    path = write(tmp_path, SMALL)
    apply(engine, path)
    before = database_state(engine)
    report = apply(engine, path)
    assert (report.created, report.updated, report.missing) == ([], [], [])
    assert report.unchanged == 8
    assert not report.changed
    assert database_state(engine) == before


def test_the_demo_inventory_applies_twice_even_after_ips_are_allocated(engine):
    build_world(engine)
    with session_scope(engine) as session:
        request = filing.request_dedicated(
            session, user(session, "alice"), ["acme.example"], weekly_volume=80_000, ip_count=2
        ).subject
        decisions.approve(session, user(session, "sam"), request.id)
    before = database_state(engine)
    report = build_world(engine)
    assert (report.created, report.updated, report.missing) == ([], [], [])
    assert database_state(engine) == before


def test_changes_are_reported_and_audited(engine, tmp_path):
    apply(engine, write(tmp_path, SMALL))
    changed = (
        SMALL.replace('plan = "standard"', 'plan = "premium"')
        .replace("max_bounce_rate = 0.04", "max_bounce_rate = 0.03")
        .replace('hostname = "d41.example.test"', 'hostname = "d41.example.test"\nweight = 3')
    )
    report = apply(engine, write(tmp_path, changed), by=None)
    assert report.created == []
    assert sorted(report.updated) == [
        "account delta: plan 'standard' → 'premium'",
        "ip 127.0.0.41: weight 1 → 3",
        "pool shared-y: max_bounce_rate 0.04 → 0.03",
    ]
    with Session(engine) as session:
        assert get_account(session, "delta").plan == "premium"
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "inventory.account.update")
        ).one()
        assert (json.loads(event.before), json.loads(event.after)) == (
            {"plan": "standard"},
            {"plan": "premium"},
        )


def test_entries_missing_from_the_file_are_reported_not_deleted(engine, tmp_path):
    apply(engine, write(tmp_path, SMALL))
    only_pools = SMALL[: SMALL.index("[[ips]]")]
    before = database_state(engine)
    report = apply(engine, write(tmp_path, only_pools, "pools.toml"))
    assert report.missing == [
        "ip 127.0.0.40",
        "ip 127.0.0.41",
        "account delta",
        "domain xn--bcher-kva.example",
        "user dora",
        "user otto",
    ]
    assert database_state(engine) == before


def test_an_agent_may_apply_and_is_named_in_the_audit(engine, tmp_path):
    apply(engine, write(tmp_path, SMALL))
    path = write(tmp_path, '[[accounts]]\nname = "echo"\nplan = "premium"\n', "more.toml")
    apply(engine, path, by="otto")
    with Session(engine) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.entity_id == "echo")).one()
        assert event.actor == "otto"


def test_new_domains_spread_over_the_shared_pools(engine, tmp_path):
    build_world(engine)
    lines = [f'[[domains]]\nname = "d{n}.example"\naccount = "bolt"\n' for n in range(9)] + [
        '[[pools]]\nname = "shared-c"\nkind = "shared"\nmax_bounce_rate = 0.05\nmax_complaint_rate = 0.003\n'
    ]
    apply(engine, write(tmp_path, "\n".join(lines)))
    with Session(engine) as session:
        names = {p.id: p.name for p in session.exec(select(Pool))}
        counts = Counter(names[d.shared_pool_id] for d in session.exec(select(Domain)))
    # 7 demo domains over two pools, then 9 more over three: 16 over three, as even as it gets.
    assert sorted(counts.values()) == [5, 5, 6]
    assert set(counts) == {"shared-a", "shared-b", "shared-c"}


def test_no_shared_pool_is_a_clear_error(engine, tmp_path):
    path = write(
        tmp_path,
        '[[accounts]]\nname = "a"\nplan = "standard"\n\n'
        '[[domains]]\nname = "a.example"\naccount = "a"\n',
    )
    with pytest.raises(
        InventoryError, match="domains\\[0\\], field .name.: a new domain needs a shared pool"
    ):
        apply(engine, path)


VALID_POOL = 'name = "p"\nkind = "shared"\nmax_bounce_rate = 0.05\nmax_complaint_rate = 0.003\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[pools]]\nname = "p"\nkind = "private"\nmax_bounce_rate = 0.05\nmax_complaint_rate = 0.003\n',
            "pools[0], field 'kind': must be one of shared, transactional, dedicated, not 'private'",
        ),
        (
            '[[pools]]\nname = "p"\nkind = "shared"\nmax_bounce_rate = 5\nmax_complaint_rate = 0.003\n',
            "pools[0], field 'max_bounce_rate': must be between 0 and 1",
        ),
        (
            '[[pools]]\nname = "p"\nkind = "shared"\nmax_bounce_rate = "high"\nmax_complaint_rate = 0.003\n',
            "pools[0], field 'max_bounce_rate': is required and must be a number",
        ),
        (
            '[[pools]]\nname = "p"\nkind = "shared"\nmax_bounce_rate = 0.05\n',
            "pools[0], field 'max_complaint_rate': is required",
        ),
        (
            f"[[pools]]\n{VALID_POOL}min_sample = 0\n",
            "pools[0], field 'min_sample': must be a whole number from 1 to 1,000,000,000",
        ),
        (
            f'[[pools]]\n{VALID_POOL}colour = "blue"\n',
            "pools[0], field 'colour': is not a known field",
        ),
        (
            f"[[pools]]\n{VALID_POOL}\n[[pools]]\n{VALID_POOL}",
            "pools[1], field 'name': 'p' is already defined in pools[0]",
        ),
        (
            f'[[pools]]\n{VALID_POOL}\n[[ips]]\naddress = "127.0.0.300"\nhostname = "x.test"\n',
            "ips[0], field 'address': '127.0.0.300' is not an IP address",
        ),
        (
            f'[[pools]]\n{VALID_POOL}\n[[ips]]\naddress = "127.0.0.9"\nhostname = "x.test"\npool = "q"\n',
            "ips[0], field 'pool': there is no pool named 'q'",
        ),
        (
            '[[ips]]\naddress = "127.0.0.9"\n',
            "ips[0], field 'hostname': is required",
        ),
        (
            '[[ips]]\naddress = "127.0.0.9"\nhostname = "a.test"\n\n'
            '[[ips]]\naddress = "127.0.0.9"\nhostname = "b.test"\n',
            "ips[1], field 'address': '127.0.0.9' is already defined in ips[0]",
        ),
        (
            '[[ips]]\naddress = "::1"\nhostname = "a.test"\n\n'
            '[[ips]]\naddress = "0:0:0:0:0:0:0:1"\nhostname = "b.test"\n',
            "ips[1], field 'address': '::1' is already defined in ips[0]",
        ),
        (
            '[[ips]]\naddress = "127.0.0.9"\nhostname = "a.test"\nweight = -1\n',
            "ips[0], field 'weight': must be a whole number from 0 to 100",
        ),
        (
            '[[ips]]\naddress = "127.0.0.9"\nhostname = "a.test"\nweight = 1000\n',
            "ips[0], field 'weight': must be a whole number from 0 to 100",
        ),
        (
            f"[[pools]]\n{VALID_POOL}window_days = 9223372036854775807\n",
            "pools[0], field 'window_days': must be a whole number from 1 to 365",
        ),
        (
            '[[ips]]\naddress = "127.0.0.9"\nhostname = "mta 9.example.test"\n',
            "ips[0], field 'hostname': 'mta 9.example.test' is not a DNS name",
        ),
        (
            '[[ips]]\naddress = "127.0.0.9"\nhostname = "mta9.example.test\\r\\nX: y"\n',
            "ips[0], field 'hostname': contains the control character U+000D",
        ),
        (
            '[[accounts]]\nname = "a\\u0000b"\nplan = "premium"\n',
            "accounts[0], field 'name': contains the control character U+0000",
        ),
        (
            '[[accounts]]\nname = "evil\\u202egnp.exe"\nplan = "premium"\n',
            "accounts[0], field 'name': contains the direction mark U+202E",
        ),
        (
            '[[users]]\nname = "operator"\nrole = "admin"\n',
            "users[0], field 'name': 'operator' is reserved for the audit log's own entries",
        ),
        (
            '[[users]]\nname = "System"\nrole = "agent"\n',
            "users[0], field 'name': 'System' is reserved for the audit log's own entries",
        ),
        (
            '[[accounts]]\nname = "a"\nplan = "gold"\n',
            "accounts[0], field 'plan': must be one of premium, standard, not 'gold'",
        ),
        (
            '[[accounts]]\nname = ""\nplan = "premium"\n',
            "accounts[0], field 'name': must be a non-empty string",
        ),
        (
            '[[domains]]\nname = "a.example"\naccount = "nobody"\n',
            "domains[0], field 'account': there is no account named 'nobody'",
        ),
        (
            '[[accounts]]\nname = "a"\nplan = "premium"\n\n'
            '[[domains]]\nname = "localhost"\naccount = "a"\n',
            "domains[0], field 'name': 'localhost' is not a domain name",
        ),
        (
            '[[accounts]]\nname = "a"\nplan = "premium"\n\n'
            '[[domains]]\nname = "a.example"\naccount = "a"\ntransactional_service = "yes"\n',
            "domains[0], field 'transactional_service': must be true or false",
        ),
        (
            '[[accounts]]\nname = "a"\nplan = "premium"\n\n'
            '[[domains]]\nname = "a.example"\naccount = "a"\n\n'
            '[[domains]]\nname = "A.Example."\naccount = "a"\n',
            "domains[1], field 'name': 'a.example' is already defined in domains[0]",
        ),
        (
            '[[users]]\nname = "u"\nrole = "owner"\n',
            "users[0], field 'account': is required",
        ),
        (
            '[[users]]\nname = "u"\nrole = "boss"\n',
            "users[0], field 'role': must be one of owner, agent, admin, not 'boss'",
        ),
        (
            '[[users]]\nname = "u"\nrole = "agent"\nkeys = ["hunter2"]\n',
            "users[0], field 'keys': 'hunter2' is not a usable OpenSSH public key",
        ),
        (
            '[[users]]\nname = "u"\nrole = "agent"\nkeys = "ssh-ed25519 AAAA"\n',
            "users[0], field 'keys': must be a list of OpenSSH public keys",
        ),
        (
            '[[users]]\nname = "u"\nrole = "agent"\n\n[[users]]\nname = "u"\nrole = "admin"\n',
            "users[1], field 'name': 'u' is already defined in users[0]",
        ),
        (
            f'[[accounts]]\nname = "{"a" * 201}"\nplan = "premium"\n',
            "accounts[0], field 'name': is longer than 200 characters",
        ),
        (
            f'[[ips]]\naddress = "127.0.0.9"\nhostname = "{"h" * 256}"\n',
            "ips[0], field 'hostname': is longer than 255 characters",
        ),
        (
            '[[accounts]]\nname = "a"\nplan = "premium"\n\n'
            f'[[domains]]\nname = "{"x" * 64}.example"\naccount = "a"\n',
            "domains[0], field 'name'",
        ),
        (
            '[[accounts]]\nname = "a"\nplan = "premium"\n\n'
            '[[domains]]\nname = "-bad.example"\naccount = "a"\n',
            "domains[0], field 'name': '-bad.example' is not a domain name",
        ),
        (
            '[[accounts]]\nname = "a"\nplan = "premium"\n\n'
            '[[domains]]\nname = "a..example"\naccount = "a"\n',
            "domains[0], field 'name': 'a..example' is not a domain name",
        ),
        (
            '[[accounts]]\nname = "a"\nplan = "premium"\n\n'
            '[[domains]]\nname = "shop_1.example"\naccount = "a"\n',
            "domains[0], field 'name': 'shop_1.example' is not a domain name",
        ),
        ('[[servers]]\nname = "x"\n', "unknown section [[servers]]"),
        ('pools = "shared"\n', "pools must be written as [[pools]] tables"),
        ("pools = [1]\n", "pools[0]: is not a table of fields"),
        ("[[pools]\nname = 1\n", "not valid TOML"),
    ],
)
def test_errors_name_the_file_the_entry_and_the_field(engine, tmp_path, text, message):
    build_world(engine)
    path = write(tmp_path, text, "broken.toml")
    before = database_state(engine)
    with pytest.raises(InventoryError) as refused:
        apply(engine, path)
    assert refused.value.message.startswith(f"{path}: ")
    assert message in refused.value.message
    assert database_state(engine) == before


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InventoryError, match="nowhere.toml: no such file"):
        load_file(tmp_path / "nowhere.toml")


@pytest.mark.parametrize(
    ("make_path", "message"),
    [
        (lambda tmp: "", "The inventory file's path is empty."),
        (lambda tmp: tmp, ": is a directory, not a file"),
        (lambda tmp: "/dev/zero", "/dev/zero: not a regular file"),
        (lambda tmp: "/proc/self/mem", "/proc/self/mem: cannot be read"),
        (lambda tmp: tmp / ("x" * 10_000), "…: cannot be read"),
        (lambda tmp: tmp / "two\nlines.toml", "two\\nlines.toml: no such file"),
    ],
    ids=["empty", "directory", "endless", "unreadable", "long-name", "newline"],
)
def test_only_a_readable_file_of_sane_size_is_read(tmp_path, make_path, message):
    with pytest.raises(InventoryError) as refused:
        load_file(make_path(tmp_path))
    assert message in refused.value.message
    assert "\n" not in refused.value.message
    assert len(refused.value.message) < 400


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path):
    path = tmp_path / "huge.toml"
    with path.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(InventoryError, match="huge.toml: larger than 16 MiB"):
        load_file(path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[[accounts]]\nname = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(InventoryError, match="latin1.toml: not UTF-8 text"):
        load_file(path)


def test_a_failing_file_changes_nothing_even_after_valid_entries(engine, tmp_path):
    build_world(engine)
    text = (
        SMALL
        + '\n[[domains]]\nname = "late.example"\naccount = "delta"\ntransactional_service = 1\n'
    )
    before = database_state(engine)
    with pytest.raises(InventoryError, match="domains\\[1\\], field 'transactional_service'"):
        apply(engine, write(tmp_path, text))
    assert database_state(engine) == before


def test_moving_a_domain_to_another_account_is_refused(engine, tmp_path):
    build_world(engine)
    path = write(tmp_path, '[[domains]]\nname = "acme.example"\naccount = "bolt"\n')
    with pytest.raises(InventoryError, match="acme.example belongs to another account"):
        apply(engine, path)


def test_an_accounts_dedicated_group_is_not_an_inventory_pool(engine, tmp_path):
    build_world(engine)
    with session_scope(engine) as session:
        request = filing.request_dedicated(
            session, user(session, "alice"), ["acme.example"], weekly_volume=80_000
        ).subject
        decisions.approve(session, user(session, "sam"), request.id)
    path = write(
        tmp_path,
        '[[pools]]\nname = "acme-dedicated-1"\nkind = "shared"\n'
        "max_bounce_rate = 0.05\nmax_complaint_rate = 0.003\n",
    )
    with pytest.raises(InventoryError, match="is an account's dedicated IP group"):
        apply(engine, path)


def test_the_demo_inventory_is_valid():
    sections = load_file(DEMO_INVENTORY)
    assert {section: len(entries) for section, entries in sections.items()} == {
        "pools": 3,
        "ips": 12,
        "accounts": 3,
        "domains": 7,
        "users": 6,
    }


def public_key(algorithm: str = "ssh-ed25519", comment: str = "") -> str:
    key = asyncssh.generate_private_key(algorithm, comment=comment or None)
    return key.export_public_key().decode().strip()


def security_key_line() -> str:
    """An sk-ssh-ed25519 public key line: no device is needed to write one."""

    def field(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    blob = field(b"sk-ssh-ed25519@openssh.com") + field(bytes(range(32))) + field(b"ssh:")
    return f"sk-ssh-ed25519@openssh.com {base64.b64encode(blob).decode()} yubikey"


def users_file(*users: tuple[str, str, list[str]]) -> str:
    """[[users]] entries for (name, role, keys); owners belong to the account "delta"."""
    text = '[[accounts]]\nname = "delta"\nplan = "standard"\n'
    for name, role, keys in users:
        account = 'account = "delta"\n' if role == "owner" else ""
        text += (
            f'\n[[users]]\nname = "{name}"\nrole = "{role}"\n{account}keys = {json.dumps(keys)}\n'
        )
    return text


def test_every_kind_of_openssh_key_is_accepted(engine, tmp_path):
    keys = [
        public_key("ssh-rsa", "rsa@host"),
        public_key("ecdsa-sha2-nistp256", "ecdsa@host"),
        public_key("ssh-ed25519"),
        security_key_line(),
    ]
    apply(engine, write(tmp_path, users_file(("kim", "admin", keys))))
    with Session(engine) as session:
        assert user(session, "kim").ssh_keys.splitlines() == keys


def test_the_same_key_on_two_users_in_one_file_is_refused_naming_both(engine, tmp_path):
    shared = public_key()
    path = write(
        tmp_path,
        users_file(
            ("olga", "owner", [public_key(), shared]), ("ann", "agent", [shared + " ann@desk"])
        ),
    )
    before = database_state(engine)
    with pytest.raises(InventoryError) as refused:
        apply(engine, path)
    assert "users[1], field 'keys'" in refused.value.message
    assert "is already olga's key" in refused.value.message
    assert "log in as olga or ann" in refused.value.message
    assert database_state(engine) == before


def test_a_key_already_held_by_a_user_the_file_leaves_alone_is_refused(engine, tmp_path):
    shared = public_key()
    apply(engine, write(tmp_path, users_file(("olga", "owner", [shared])), "first.toml"))
    before = database_state(engine)
    with pytest.raises(InventoryError, match="is already olga's key"):
        apply(engine, write(tmp_path, users_file(("ann", "agent", [shared])), "second.toml"))
    assert database_state(engine) == before


def test_a_key_may_move_from_one_user_to_another_in_one_file(engine, tmp_path):
    key = public_key()
    apply(engine, write(tmp_path, users_file(("olga", "owner", [key]), ("ann", "agent", []))))
    apply(engine, write(tmp_path, users_file(("olga", "owner", []), ("ann", "agent", [key]))))
    with Session(engine) as session:
        assert user(session, "ann").ssh_keys == key
        assert user(session, "olga").ssh_keys == ""


@pytest.mark.parametrize(
    ("make_key", "reason"),
    [
        (lambda: public_key() + "\n" + public_key(), "holds more than one line"),
        (lambda: public_key()[:-12], "is not a usable OpenSSH public key"),
        (lambda: "ssh-rsa " + public_key().split()[1], "algorithm mismatch"),
        (lambda: "ssh-ed25519 " + "A" * 9000, "is longer than 8192 characters"),
        (lambda: "", "is empty"),
    ],
    ids=["two-lines", "truncated", "wrong-type-label", "too-long", "empty"],
)
def test_keys_are_parsed_for_real(engine, tmp_path, make_key, reason):
    path = write(tmp_path, users_file(("kim", "admin", [make_key()])))
    before = database_state(engine)
    with pytest.raises(InventoryError) as refused:
        apply(engine, path)
    assert "users[0], field 'keys'" in refused.value.message
    assert reason in refused.value.message
    assert "\n" not in refused.value.message
    assert database_state(engine) == before


def test_the_same_key_twice_on_one_user_is_refused(engine, tmp_path):
    key = public_key()
    with pytest.raises(InventoryError, match="is listed twice"):
        apply(engine, write(tmp_path, users_file(("kim", "admin", [key, key + " again"]))))


def test_a_pool_already_called_like_the_next_group_does_not_block_approval(engine, tmp_path):
    build_world(engine)
    apply(
        engine,
        write(
            tmp_path,
            '[[pools]]\nname = "acme-dedicated-1"\nkind = "dedicated"\n'
            "max_bounce_rate = 0.05\nmax_complaint_rate = 0.003\n",
        ),
    )
    with session_scope(engine) as session:
        request = filing.request_dedicated(
            session, user(session, "alice"), ["acme.example"], weekly_volume=80_000
        ).subject
        decisions.approve(session, user(session, "sam"), request.id)
    with Session(engine) as session:
        assert (
            get_domain(session, "acme.example").dedicated_pool_id
            == get_pool(session, "acme-dedicated-2").id
        )


def test_ips_cannot_be_put_into_an_accounts_dedicated_group_by_file(engine, tmp_path):
    build_world(engine)
    with session_scope(engine) as session:
        request = filing.request_dedicated(
            session, user(session, "alice"), ["acme.example"], weekly_volume=80_000
        ).subject
        decisions.approve(session, user(session, "sam"), request.id)
    path = write(
        tmp_path,
        '[[ips]]\naddress = "127.0.0.99"\nhostname = "x.test"\npool = "acme-dedicated-1"\n',
    )
    before = database_state(engine)
    with pytest.raises(
        InventoryError, match="ips\\[0\\], field 'pool': 'acme-dedicated-1' is an account's"
    ):
        apply(engine, path)
    assert database_state(engine) == before
    # Naming the group an allocated IP is already in is no change at all.
    same = write(
        tmp_path,
        '[[ips]]\naddress = "127.0.0.20"\nhostname = "d20.dedicated.mailpools.test"\n'
        'pool = "acme-dedicated-1"\n',
        "same.toml",
    )
    report = apply(engine, same)
    assert (report.created, report.updated) == ([], [])


def test_a_pool_in_use_keeps_its_kind(engine, tmp_path):
    build_world(engine)
    text = DEMO_INVENTORY.read_text(encoding="utf-8").replace(
        'name = "shared-b"\nkind = "shared"', 'name = "shared-b"\nkind = "transactional"'
    )
    before = database_state(engine)
    with pytest.raises(
        InventoryError, match="pools\\[1\\], field 'kind': shared-b is a shared pool with 3"
    ):
        apply(engine, write(tmp_path, text))
    assert database_state(engine) == before


def test_an_unused_pool_may_change_kind(engine, tmp_path):
    apply(engine, write(tmp_path, SMALL))
    changed = SMALL.replace(
        'kind = "shared"\nmax_bounce_rate = 0.04', 'kind = "dedicated"\nmax_bounce_rate = 0.04'
    )
    report = apply(engine, write(tmp_path, changed))
    assert report.updated == ["pool shared-y: kind 'shared' → 'dedicated'"]
