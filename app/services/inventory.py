"""Inventory as code: pools, IPs, accounts, domains and users from a TOML file.

Applying a file makes the database match it: entries are created or updated
by their natural key (name or address). Nothing is deleted: entries that the
database has and the file does not are reported, so a forgotten line never
silently removes a customer. The whole file applies in one transaction, or not
at all; each table is read once and written in bulk. New domains' DKIM keys are
made after that transaction commits (`dkim.make_missing_keys`).
"""

from __future__ import annotations

import functools
import heapq
import ipaddress
import os
import re
import stat
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlmodel import Session

from app import clock
from app.errors import MailpoolsError
from app.rules.formatting import one_line
from app.rules.policy import normalise_domain
from app.rules.rates import DEFAULT_THRESHOLDS
from app.services import audit
from app.services.audit import SYSTEM_ACTOR
from app.services.auth import require_staff
from app.services.lookups import shared_pool_loads
from app.services.pools import MAX_IP_WEIGHT
from app.services.ssh_keys import KeyRefused, key_identity, stored_identities
from data.models import (
    Account,
    Domain,
    IpAddress,
    Plan,
    Pool,
    PoolKind,
    Role,
    User,
    table_of,
)

SECTIONS = ("pools", "ips", "accounts", "domains", "users")
POOLS, IPS, ACCOUNTS = table_of(Pool), table_of(IpAddress), table_of(Account)
DOMAINS, USERS = table_of(Domain), table_of(User)
# Any fixed number, the same in every process: the advisory lock that serialises applies.
INVENTORY_LOCK_KEY = 0x6D61696C_706F6F6C  # "mailpool"
# The lengths of the columns the names are stored in.
NAME_MAX_LENGTH = 200
HOSTNAME_MAX_LENGTH = 255
# Far more than a real inventory of thousands of IPs and domains; /dev/zero never ends.
MAX_FILE_BYTES = 16 * 2**20
# A pool judges at most a year of stats, from at most a billion messages.
MAX_WINDOW_DAYS = 365
MAX_MIN_SAMPLE = 1_000_000_000
# The audit log's own actors: a user with one of these names could pass for them.
RESERVED_USER_NAMES = {"operator", SYSTEM_ACTOR}
# Two or more labels of letters, digits and hyphens, none starting or ending with a hyphen.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
# Characters that change how text reads without showing: direction marks and overrides.
BIDIRECTIONAL_CONTROLS = {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}


class InventoryError(MailpoolsError):
    pass


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    # Entries in the database that the file does not mention (kept, not deleted).
    missing: list[str] = field(default_factory=list)
    # New domains, written without a DKIM key: `dkim.make_missing_keys` makes them.
    keyless: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def as_json(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "missing_from_file": self.missing,
        }


class _Entry:
    """One [[section]] table of the file, with errors that say where it is."""

    def __init__(self, source: str, section: str, index: int, data: Any):
        self.source, self.section, self.index = source, section, index
        if not isinstance(data, dict):
            raise self.error(None, "is not a table of fields")
        self.data = data
        self.label = f"{section}[{index}]"
        if isinstance(data.get("name"), str):
            self.label += f" ({data['name']})"
        elif isinstance(data.get("address"), str):
            self.label += f" ({data['address']})"

    def error(self, field_name: str | None, problem: str) -> InventoryError:
        where = f"{self.source}: {self.section}[{self.index}]"
        if field_name:
            where += f", field {_shorten(field_name)}"
        return InventoryError(f"{where}: {problem}")

    @overload
    def text(
        self,
        name: str,
        *,
        required: Literal[True] = True,
        default: str | None = None,
        max_length: int = NAME_MAX_LENGTH,
    ) -> str: ...

    @overload
    def text(
        self,
        name: str,
        *,
        required: bool,
        default: str | None = None,
        max_length: int = NAME_MAX_LENGTH,
    ) -> str | None: ...

    def text(
        self,
        name: str,
        *,
        required: bool = True,
        default: str | None = None,
        max_length: int = NAME_MAX_LENGTH,
    ) -> str | None:
        value = self.data.get(name, default)
        if value is None:
            if required:
                raise self.error(name, "is required")
            return None
        stripped = value.strip() if isinstance(value, str) else ""
        if not stripped:
            raise self.error(name, "must be a non-empty string")
        if len(stripped) > max_length:
            raise self.error(name, f"is longer than {max_length} characters")
        hidden = _hidden_character(value)
        if hidden:
            raise self.error(name, f"contains {hidden}, which is not allowed in names")
        return stripped

    def choice(self, name: str, choices: list[str], default: str | None = None) -> str:
        value = self.text(name, required=default is None, default=default)
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def rate(self, name: str) -> float:
        value = self.data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, "is required and must be a number between 0 and 1")
        if not 0 < value < 1:
            raise self.error(
                name,
                f"must be between 0 and 1 (a fraction, e.g. {DEFAULT_THRESHOLDS.max_bounce_rate}), not {value}",
            )
        return float(value)

    def whole(self, name: str, default: int, minimum: int, maximum: int) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.error(name, f"must be a whole number from {minimum} to {maximum:,}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, "must be true or false")
        return value

    def check_fields(self, allowed: set[str]) -> None:
        if self.data.keys() <= allowed:
            return
        unknown = sorted(set(self.data) - allowed)
        if unknown:
            raise self.error(
                unknown[0], f"is not a known field (known: {', '.join(sorted(allowed))})"
            )


def load_file(path: str | Path) -> dict[str, list[_Entry]]:
    """Read an inventory file, refusing anything that is not a regular file of sane size."""
    shown = one_line(str(path), 300)
    if not str(path).strip():
        raise InventoryError("The inventory file's path is empty.")
    path = Path(path)
    try:
        with path.open("rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise InventoryError(f"{shown}: not a regular file")
            content = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InventoryError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise InventoryError(f"{shown}: is a directory, not a file") from None
    except OSError as error:
        raise InventoryError(f"{shown}: cannot be read ({error.strerror or error})") from None
    except ValueError:
        # A NUL character, which no path can hold.
        raise InventoryError(f"{shown}: not a path (it holds a NUL character)") from None
    if len(content) > MAX_FILE_BYTES:
        raise InventoryError(f"{shown}: larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        raw = tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        raise InventoryError(f"{shown}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise InventoryError(f"{shown}: not valid TOML: {error}") from None
    return parse(raw, str(path))


def parse(raw: dict, source: str) -> dict[str, list[_Entry]]:
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise InventoryError(
            f"{source}: unknown section [[{_shorten(unknown[0])[1:-1]}]] "
            f"(known: {', '.join(SECTIONS)})"
        )
    sections: dict[str, list[_Entry]] = {}
    for section in SECTIONS:
        items = raw.get(section, [])
        if not isinstance(items, list):
            raise InventoryError(f"{source}: {section} must be written as [[{section}]] tables")
        sections[section] = [_Entry(source, section, i, item) for i, item in enumerate(items)]
    return sections


def _note(report: ApplyReport, label: str, created: bool, changes: dict) -> None:
    if created:
        report.created.append(label)
    elif changes:
        report.updated.append(
            f"{label}: " + ", ".join(f"{k} {v[0]!r} → {v[1]!r}" for k, v in changes.items())
        )
    else:
        report.unchanged += 1


def _changes(row: Any, values: dict) -> dict:
    """What VALUES would change in ROW (as read from the database), as (before, after)."""
    return {
        key: (getattr(row, key), value)
        for key, value in values.items()
        if getattr(row, key) != value
    }


def _unique(entries: list[_Entry], key: str, normalise=lambda value: value) -> None:
    seen: dict[str, int] = {}
    for entry in entries:
        value = entry.data.get(key)
        if isinstance(value, str):
            value = normalise(value.strip())
            if value in seen:
                raise entry.error(
                    key, f"{value!r} is already defined in {entry.section}[{seen[value]}]"
                )
            seen[value] = entry.index


class _Writes:
    """One table's changes, gathered while the file's entries are checked, then written
    with a statement per kind of change rather than per row: reading each table once and
    writing it in bulk is what keeps a file of 10,000 domains to seconds."""

    def __init__(self, table: Table, key: str, entity: str, actor: str) -> None:
        self.table, self.key, self.entity, self.actor = table, key, entity, actor
        self.new_rows: list[dict[str, Any]] = []
        self.updates: list[tuple[int, dict[str, Any]]] = []
        # Audit events in the file's order; a new row's id is filled in once it has one.
        self.events: list[tuple[str | None, dict[str, Any]]] = []

    def create(self, key: str, row: dict[str, Any], **ids: Any) -> None:
        self.new_rows.append(row)
        event = self._event(key, "create", None, {"name": key}, ids)
        self.events.append((key, event))

    def update(self, row_id: int, key: str, changes: dict, **ids: Any) -> None:
        if not changes:
            return
        self.updates.append((row_id, {k: v[1] for k, v in changes.items()}))
        before = {k: v[0] for k, v in changes.items()}
        after = {k: v[1] for k, v in changes.items()}
        self.events.append((None, self._event(key, "update", before, after, ids)))

    def _event(self, key: str, verb: str, before, after, ids: dict) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "action": f"inventory.{self.entity}.{verb}",
            "entity": self.entity,
            "entity_id": key,
            "before": before,
            "after": after,
            **ids,
        }

    def write(self, session: Session, new_id_fields: tuple[str, ...] = ()) -> dict[str, int]:
        """Write the changes and their audit events; the new rows' ids by key. The events of
        new rows get their own id in NEW_ID_FIELDS (e.g. domain_id)."""
        ids: dict[str, int] = {}
        if self.new_rows:
            # A plain executemany, then the new ids read back by key: on SQLite half the
            # time of an INSERT ... RETURNING of the same rows.
            newest = session.execute(select(func.max(self.table.c.id))).scalar() or 0
            session.execute(insert(self.table), self.new_rows)
            key_column = self.table.c[self.key]
            added = session.execute(
                select(self.table.c.id, key_column).where(self.table.c.id > newest)
            )
            wanted = {row[self.key] for row in self.new_rows}
            ids = {key: row_id for row_id, key in added if key in wanted}
        by_fields: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row_id, values in self.updates:
            params = {"row_id": row_id, **{f"new_{k}": v for k, v in values.items()}}
            by_fields.setdefault(tuple(sorted(values)), []).append(params)
        for fields, rows in by_fields.items():
            changing = (
                update(self.table)
                .where(self.table.c.id == bindparam("row_id"))
                .values({name: bindparam(f"new_{name}") for name in fields})
            )
            session.execute(changing, rows)
        events = []
        for new_key, event in self.events:
            if new_key is not None:
                event = {**event, **dict.fromkeys(new_id_fields, ids[new_key])}
            events.append(event)
        audit.record_many(session, events)
        return ids


def apply_inventory(
    session: Session, actor: User | None, sections: dict[str, list[_Entry]]
) -> ApplyReport:
    """Make the database match the file. ACTOR None means the local operator (the CLI
    without --as).

    New domains are written without a DKIM key: a key costs 50 to 200 ms of CPU, which
    for thousands of domains would hold this transaction for minutes. The caller makes
    them once this transaction is committed (`dkim.make_missing_keys`); the report's
    `keyless` names the new domains waiting for one.
    """
    if actor is not None:
        require_staff(actor, "change the inventory")
    _apply_one_at_a_time(session)
    # The rows are read and written with Core statements, past the session's objects:
    # whatever the caller changed must be in the database first, and whatever it holds
    # is read again after an update (the end of this function expires it).
    session.flush()
    who = actor.name if actor else "operator"
    report = ApplyReport()
    now = clock.now()

    _unique(sections["pools"], "name")
    pools = {row.name: row for row in session.execute(select(POOLS))}
    writes = _Writes(POOLS, "name", "pool", who)
    for entry in sections["pools"]:
        entry.check_fields(
            {"name", "kind", "max_bounce_rate", "max_complaint_rate", "min_sample", "window_days"}
        )
        name = entry.text("name")
        values: dict[str, Any] = {
            "kind": entry.choice("kind", [k.value for k in PoolKind]),
            "max_bounce_rate": entry.rate("max_bounce_rate"),
            "max_complaint_rate": entry.rate("max_complaint_rate"),
            "min_sample": entry.whole(
                "min_sample", DEFAULT_THRESHOLDS.min_sample, 1, MAX_MIN_SAMPLE
            ),
            "window_days": entry.whole(
                "window_days", DEFAULT_THRESHOLDS.window_days, 1, MAX_WINDOW_DAYS
            ),
        }
        pool = pools.get(name)
        if pool is None:
            writes.create(name, {"name": name, "created_at": now, **values})
            _note(report, f"pool {name}", True, {})
            continue
        if pool.account_id is not None:
            raise entry.error(
                "name", f"{name!r} is an account's dedicated IP group, not an inventory pool"
            )
        if values["kind"] != pool.kind:
            members = _pool_members(session, pool.id)
            if members:
                raise entry.error(
                    "kind",
                    f"{name} is a {pool.kind} pool with {members} member domain(s); "
                    "its kind cannot change while domains use it",
                )
        changes = _changes(pool, values)
        writes.update(pool.id, name, changes)
        _note(report, f"pool {name}", False, changes)
    # Each pool's id and owning account, the new ones included.
    pool_of: dict[str, tuple[int, int | None]] = {
        name: (row.id, row.account_id) for name, row in pools.items()
    }
    pool_of.update((name, (row_id, None)) for name, row_id in writes.write(session).items())

    _unique(sections["ips"], "address", _normalise_address)
    ips = {row.address: row for row in session.execute(select(IPS))}
    writes = _Writes(IPS, "address", "ip", who)
    for entry in sections["ips"]:
        entry.check_fields({"address", "hostname", "pool", "weight"})
        address = entry.text("address")
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            raise entry.error("address", f"{address!r} is not an IP address") from None
        pool_name = entry.text("pool", required=False)
        in_pool = pool_of.get(pool_name) if pool_name else None
        if pool_name and in_pool is None:
            raise entry.error("pool", f"there is no pool named {pool_name!r}")
        ip = ips.get(address)
        # An allocated IP may name the group it is in; nothing else may join a group by file.
        if (
            in_pool is not None
            and in_pool[1] is not None
            and (ip is None or ip.pool_id != in_pool[0])
        ):
            raise entry.error(
                "pool",
                f"{pool_name!r} is an account's dedicated IP group; its IPs come from approved "
                "requests (leave pool out to add the IP to the free dedicated inventory)",
            )
        values = {
            "hostname": _hostname(entry),
            "weight": entry.whole("weight", 1, 0, MAX_IP_WEIGHT),
        }
        if ip is None or ip.account_id is None:
            # Allocated dedicated IPs belong to their account's group; the file does not move them.
            values["pool_id"] = in_pool[0] if in_pool else None
        if ip is None:
            writes.create(address, {"address": address, "created_at": now, **values})
            _note(report, f"ip {address}", True, {})
        else:
            changes = _changes(ip, values)
            writes.update(ip.id, address, changes)
            _note(report, f"ip {address}", False, changes)
    writes.write(session)

    _unique(sections["accounts"], "name")
    accounts = {row.name: row for row in session.execute(select(ACCOUNTS))}
    writes = _Writes(ACCOUNTS, "name", "account", who)
    for entry in sections["accounts"]:
        entry.check_fields({"name", "plan"})
        name = entry.text("name")
        plan = entry.choice("plan", [p.value for p in Plan])
        account = accounts.get(name)
        if account is None:
            writes.create(name, {"name": name, "plan": plan, "created_at": now})
            _note(report, f"account {name}", True, {})
        else:
            changes = _changes(account, {"plan": plan})
            writes.update(account.id, name, changes, account_id=account.id)
            _note(report, f"account {name}", False, changes)
    account_ids = {name: row.id for name, row in accounts.items()}
    account_ids.update(writes.write(session, ("account_id",)))

    # Each domain name is normalised three times (duplicates, the entry, the report): once.
    domain_form = functools.cache(normalise_domain)
    _unique(sections["domains"], "name", domain_form)
    domains = {
        row.name: row
        for row in session.execute(
            select(
                DOMAINS.c.id, DOMAINS.c.name, DOMAINS.c.account_id, DOMAINS.c.transactional_service
            )
        )
    }
    writes = _Writes(DOMAINS, "name", "domain", who)
    # The shared pools' loads, read at the first new domain; each new domain joins the
    # least used, as `pick_shared_pool` would choose one domain at a time.
    shared_loads: list[tuple[int, int]] | None = None
    for entry in sections["domains"]:
        entry.check_fields({"name", "account", "transactional_service"})
        name = domain_form(entry.text("name", max_length=HOSTNAME_MAX_LENGTH))
        if not _is_domain_name(name):
            raise entry.error("name", f"{entry.data['name']!r} is not a domain name")
        account_name = entry.text("account")
        account_id = account_ids.get(account_name)
        if account_id is None:
            raise entry.error("account", f"there is no account named {account_name!r}")
        values = {
            "account_id": account_id,
            "transactional_service": entry.flag("transactional_service", False),
        }
        domain = domains.get(name)
        if domain is None:
            if shared_loads is None:
                shared_loads = [(n, pool_id) for pool_id, n in shared_pool_loads(session).items()]
                heapq.heapify(shared_loads)
            if not shared_loads:
                raise entry.error(
                    "name",
                    'a new domain needs a shared pool: add a [[pools]] entry of kind "shared"',
                )
            members, pool_id = heapq.heappop(shared_loads)
            heapq.heappush(shared_loads, (members + 1, pool_id))
            writes.create(
                name,
                {"name": name, "created_at": now, "shared_pool_id": pool_id, **values},
                account_id=account_id,
            )
            _note(report, f"domain {name}", True, {})
            report.keyless.append(name)
        else:
            if domain.account_id != account_id:
                raise entry.error(
                    "account",
                    f"{name} belongs to another account; moving domains between accounts is not supported",
                )
            changes = _changes(domain, values)
            writes.update(domain.id, name, changes, account_id=account_id, domain_id=domain.id)
            _note(report, f"domain {name}", False, changes)
    writes.write(session, ("domain_id",))

    _unique(sections["users"], "name")
    users = {
        row.name: row
        for row in session.execute(
            select(USERS.c.id, USERS.c.name, USERS.c.role, USERS.c.account_id, USERS.c.ssh_keys)
        )
    }
    key_holders = _key_holders_outside_file(users, sections["users"])
    writes = _Writes(USERS, "name", "user", who)
    for entry in sections["users"]:
        entry.check_fields({"name", "role", "account", "keys"})
        name = entry.text("name")
        if name.lower() in RESERVED_USER_NAMES:
            raise entry.error("name", f"{name!r} is reserved for the audit log's own entries")
        role = entry.choice("role", [r.value for r in Role])
        user_account_name = entry.text("account", required=role == Role.OWNER)
        account_id = account_ids.get(user_account_name) if user_account_name else None
        if user_account_name and account_id is None:
            raise entry.error("account", f"there is no account named {user_account_name!r}")
        keys = _user_keys(entry, name, key_holders)
        values = {
            "role": role,
            "account_id": account_id if role == Role.OWNER else None,
            "ssh_keys": "\n".join(keys),
        }
        user = users.get(name)
        if user is None:
            writes.create(name, {"name": name, "created_at": now, **values})
            _note(report, f"user {name}", True, {})
        else:
            changes = _changes(user, values)
            writes.update(user.id, name, changes)
            _note(report, f"user {name}", False, changes)
    writes.write(session)
    if report.updated:
        # The caller's objects (the acting user among them) may hold what was just changed.
        session.expire_all()

    named = {section: _names(entries, domain_form) for section, entries in sections.items()}
    report.missing += [
        f"pool {p.name}"
        for p in pools.values()
        if p.account_id is None and p.name not in named["pools"]
    ]
    report.missing += [f"ip {a}" for a in ips if a not in named["ips"]]
    report.missing += [f"account {n}" for n in accounts if n not in named["accounts"]]
    report.missing += [f"domain {n}" for n in domains if n not in named["domains"]]
    report.missing += [f"user {n}" for n in users if n not in named["users"]]
    return report


def _key_holders_outside_file(users: dict[str, Any], entries: list[_Entry]) -> dict[bytes, str]:
    """Who holds each key among the users the file leaves as they are."""
    in_file = {
        entry.data.get("name", "").strip()
        for entry in entries
        if isinstance(entry.data.get("name"), str)
    }
    return {
        identity: user.name
        for user in users.values()
        if user.name not in in_file
        for identity in stored_identities(user.ssh_keys)
    }


def _user_keys(entry: _Entry, name: str, key_holders: dict[bytes, str]) -> list[str]:
    """The user's keys, each parsed for real; a key may belong to one user only.

    A key held by two users would log its holder in as either of them, so it is
    refused, naming both. KEY_HOLDERS grows with each user the file assigns.
    """
    keys = entry.data.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise entry.error("keys", "must be a list of OpenSSH public keys")
    seen: set[bytes] = set()
    for key in keys:
        shown = _shorten(key)
        try:
            identity = key_identity(key)
        except KeyRefused as refusal:
            raise entry.error("keys", f"{shown} {refusal}") from None
        if identity in seen:
            raise entry.error("keys", f"{shown} is listed twice")
        holder = key_holders.get(identity)
        if holder is not None and holder != name:
            raise entry.error(
                "keys",
                f"{shown} is already {holder}'s key; one key may belong to one user only, "
                f"or whoever holds it could log in as {holder} or {name}",
            )
        seen.add(identity)
    key_holders.update(dict.fromkeys(seen, name))
    return [key.strip() for key in keys]


def _shorten(text: str, limit: int = 40) -> str:
    """TEXT quoted for a message, cut short so a long value cannot flood it."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _hidden_character(value: str) -> str | None:
    """A description of the first control, direction or other unprintable character in
    VALUE, if any."""
    if value.isascii() and value.isprintable():
        # Printable ASCII holds none of them: the common case, without a lookup per character.
        return None
    for character in value:
        if unicodedata.category(character) == "Cc":
            return f"the control character U+{ord(character):04X}"
        if (
            unicodedata.bidirectional(character) in BIDIRECTIONAL_CONTROLS
            or character in "\u200e\u200f\u061c"
        ):
            return f"the direction mark U+{ord(character):04X}"
        if not character.isprintable():
            # Zero-width and format characters, unassigned code points, odd spaces:
            # two names that look the same must not be two names.
            return f"the character U+{ord(character):04X}, which does not print"
    return None


def _hostname(entry: _Entry) -> str:
    """An IP's PTR name, used as its EHLO name: it must be a DNS name, or every message defers."""
    hostname = entry.text("hostname", max_length=HOSTNAME_MAX_LENGTH).rstrip(".").lower()
    if not _is_domain_name(hostname):
        raise entry.error(
            "hostname",
            f"{_shorten(hostname)} is not a DNS name (labels of letters, digits and hyphens, "
            "separated by dots)",
        )
    return hostname


def _apply_one_at_a_time(session: Session) -> None:
    """Two applies at once would both create the same new names; the second waits instead.

    PostgreSQL: a transaction-scoped advisory lock. SQLite transactions already run
    one at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INVENTORY_LOCK_KEY})


def _pool_members(session: Session, pool_id: int) -> int:
    """Domains that send from pool POOL_ID, or fall back to it, in any way of sending."""
    uses = (
        (DOMAINS.c.shared_pool_id == pool_id)
        | (DOMAINS.c.transactional_pool_id == pool_id)
        | (DOMAINS.c.dedicated_pool_id == pool_id)
    )
    return len(session.execute(select(DOMAINS.c.id).where(uses)).all())


def _is_domain_name(name: str) -> bool:
    """NAME, already in its ASCII form, has two or more labels of letters, digits and hyphens."""
    return len(name) <= 253 and DOMAIN_NAME.fullmatch(name) is not None


def _normalise_address(address: str) -> str:
    """One spelling per address ("0:0::1" is "::1"); text that is no address stays as it is."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def _names(entries: list[_Entry], domain_form: Callable[[str], str] = normalise_domain) -> set[str]:
    names = set()
    for entry in entries:
        value = entry.data.get("name", entry.data.get("address"))
        if isinstance(value, str):
            if entry.section == "domains":
                names.add(domain_form(value))
            elif entry.section == "ips":
                names.add(_normalise_address(value.strip()))
            else:
                names.add(value.strip())
    return names
