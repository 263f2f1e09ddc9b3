"""`mailpools inventory apply` of a file of 10,000 domains, against a plain bulk insert
of the same rows into the same tables.

The file: 4 pools, 40 IPs, 1,000 accounts, 10,000 domains (ten to an account) and
1,000 owners, one to an account. Each round makes two fresh databases of the current
schema. In one, the baseline writes the rows an apply of the file writes (pools, IPs,
accounts, domains, users, and the audit event of each, with the ids already worked out)
with one executemany INSERT per table in one transaction: the least any apply could
cost, since every change must be audited. In the other, the inventory service reads the
file (load_file: the TOML parsing, a quarter to a third of the whole on SQLite), applies
it in one transaction and commits: every name and field checked, the existing rows
read, the new rows and their audit events written. Both are timed in this process, so
neither includes starting Python. Target: reading plus applying at most 3 times the
baseline, medians of alternating rounds. The baseline without the audit events is
printed too, and the ratio against it, which no target judges.

Out of the timed part: the DKIM keys. New domains are written without one and the
command makes them after the commit (`dkim.make_missing_keys`, in one worker process
per core). A key costs 50 to 200 ms of CPU whatever the database does, so they are
timed on their own, for the first KEY_SAMPLE domains, and reported per key.

Also shown, not judged: applying the same file a second time (nothing changes,
nothing is audited). On SQLite always; on PostgreSQL too when its server programs are
installed (a throwaway server on loopback, as database_cost starts).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, insert, select

from app import clock
from app.services.dkim import make_missing_keys
from app.services.inventory import apply_inventory, load_file
from data.db import make_engine, session_scope, upgrade
from data.models import Account, AuditEvent, Domain, IpAddress, Pool, User, table_of

DOMAINS = int(os.environ.get("MAILPOOLS_BENCH_DOMAINS", "10000"))
DOMAINS_PER_ACCOUNT = 10
ACCOUNTS = DOMAINS // DOMAINS_PER_ACCOUNT
IPS = 40
ROUNDS = 5
KEY_SAMPLE = 40
TARGET = 3.0
NOW = "2026-11-26T09:00:00"
POOLS = [
    ("shared-a", "shared"),
    ("shared-b", "shared"),
    ("transactional-a", "transactional"),
    ("warm-a", "shared"),
]


def _inventory_text(domains: int) -> str:
    """The benchmark's file, written out as an operator would keep it."""
    parts = []
    for name, kind in POOLS:
        parts.append(
            f'[[pools]]\nname = "{name}"\nkind = "{kind}"\n'
            "max_bounce_rate = 0.05\nmax_complaint_rate = 0.003\n"
        )
    for i in range(IPS):
        pool = POOLS[i % len(POOLS)][0]
        parts.append(
            f'[[ips]]\naddress = "10.0.{i // 250}.{i % 250 + 1}"\n'
            f'hostname = "mta{i}.bench.example"\npool = "{pool}"\n'
        )
    accounts = max(1, domains // DOMAINS_PER_ACCOUNT)
    for a in range(accounts):
        parts.append(f'[[accounts]]\nname = "account{a}"\nplan = "standard"\n')
    for d in range(domains):
        service = "true" if d % 7 == 0 else "false"
        parts.append(
            f'[[domains]]\nname = "d{d}.account{d % accounts}.example"\n'
            f'account = "account{d % accounts}"\ntransactional_service = {service}\n'
        )
    for a in range(accounts):
        parts.append(f'[[users]]\nname = "owner{a}"\nrole = "owner"\naccount = "account{a}"\n')
    return "\n".join(parts)


def _plain_rows(domains: int) -> list[tuple[type, list[dict]]]:
    """The same rows as the file, as the baseline inserts them: ids given, nothing read."""
    now = clock.now()
    accounts = max(1, domains // DOMAINS_PER_ACCOUNT)
    pools = [
        {
            "id": i + 1,
            "name": name,
            "kind": kind,
            "max_bounce_rate": 0.05,
            "max_complaint_rate": 0.003,
            "min_sample": 500,
            "window_days": 7,
            "created_at": now,
        }
        for i, (name, kind) in enumerate(POOLS)
    ]
    ips = [
        {
            "address": f"10.0.{i // 250}.{i % 250 + 1}",
            "hostname": f"mta{i}.bench.example",
            "pool_id": i % len(POOLS) + 1,
            "weight": 1,
            "created_at": now,
        }
        for i in range(IPS)
    ]
    account_rows = [
        {"id": a + 1, "name": f"account{a}", "plan": "standard", "created_at": now}
        for a in range(accounts)
    ]
    domain_rows = [
        {
            "id": d + 1,
            "name": f"d{d}.account{d % accounts}.example",
            "account_id": d % accounts + 1,
            "transactional_service": d % 7 == 0,
            "shared_pool_id": (1, 2, 4)[d % 3],
            "created_at": now,
        }
        for d in range(domains)
    ]
    users = [
        {
            "name": f"owner{a}",
            "role": "owner",
            "account_id": a + 1,
            "ssh_keys": "",
            "created_at": now,
        }
        for a in range(accounts)
    ]
    events = [_created_event("pool", row["name"], None, None) for row in pools]
    events += [_created_event("ip", row["address"], None, None) for row in ips]
    events += [_created_event("account", row["name"], row["id"], None) for row in account_rows]
    events += [
        _created_event("domain", row["name"], row["account_id"], row["id"]) for row in domain_rows
    ]
    events += [_created_event("user", row["name"], None, None) for row in users]
    return [
        (Pool, pools),
        (IpAddress, ips),
        (Account, account_rows),
        (Domain, domain_rows),
        (User, users),
        (AuditEvent, events),
    ]


def _created_event(entity: str, key: str, account_id: int | None, domain_id: int | None) -> dict:
    return {
        "at": clock.now(),
        "actor": "operator",
        "action": f"inventory.{entity}.create",
        "entity": entity,
        "entity_id": key,
        "account_id": account_id,
        "domain_id": domain_id,
        "before": None,
        "after": json.dumps({"name": key}),
    }


def _plain_insert(url: str, rows: list[tuple[type, list[dict]]]) -> tuple[float, float]:
    """Seconds for the whole insert, and of them for the audit events'."""
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        with engine.begin() as connection:
            for model, table_rows in rows:
                if model is AuditEvent:
                    audit_started = time.perf_counter()
                connection.execute(insert(table_of(model)), table_rows)
                if model is AuditEvent:
                    audit_spent = time.perf_counter() - audit_started
        return time.perf_counter() - started, audit_spent
    finally:
        engine.dispose()


def _apply(url: str, path: Path) -> tuple[float, float, int]:
    """Seconds to read the file, seconds to apply and commit it, and the rows created."""
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        sections = load_file(path)
        loaded = time.perf_counter()
        with session_scope(engine) as session:
            report = apply_inventory(session, None, sections)
        applied = time.perf_counter()
        return loaded - started, applied - loaded, len(report.created)
    finally:
        engine.dispose()


def _second_apply(url: str, path: Path) -> tuple[float, int]:
    """Seconds to apply PATH again, checking that nothing changed or was audited."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            events = connection.execute(select(func.count()).select_from(table_of(AuditEvent)))
            before = events.scalar_one()
        started = time.perf_counter()
        with session_scope(engine) as session:
            report = apply_inventory(session, None, load_file(path))
        elapsed = time.perf_counter() - started
        with engine.connect() as connection:
            events = connection.execute(select(func.count()).select_from(table_of(AuditEvent)))
            after = events.scalar_one()
        assert not report.changed and after == before, (report.created[:3], before, after)
        return elapsed, report.unchanged
    finally:
        engine.dispose()


def _keys(url: str, directory: Path) -> tuple[float, int]:
    """Seconds to make the DKIM keys of KEY_SAMPLE new domains after their apply."""
    path = directory / "keys.toml"
    path.write_text(_inventory_text(KEY_SAMPLE), encoding="utf-8")
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            apply_inventory(session, None, load_file(path))
        started = time.perf_counter()
        made = make_missing_keys(engine, "operator")
        return time.perf_counter() - started, len(made)
    finally:
        engine.dispose()


def _compare(name: str, fresh: Callable[[str], str], directory: Path, path: Path) -> list[str]:
    rows = _plain_rows(DOMAINS)
    plain, plain_audit, reading, applying = [], [], [], []
    created = 0
    for round_ in range(ROUNDS):
        whole_insert, audit_insert = _plain_insert(fresh(f"plain_{round_}"), rows)
        plain.append(whole_insert)
        plain_audit.append(audit_insert)
        url = fresh(f"apply_{round_}")
        read, applied, created = _apply(url, path)
        reading.append(read)
        applying.append(applied)
    again, unchanged = _second_apply(url, path)
    keys_seconds, keys_made = _keys(fresh("keys"), directory)
    baseline = statistics.median(plain)
    inventory_rows = statistics.median(w - a for w, a in zip(plain, plain_audit, strict=True))
    whole = statistics.median(r + a for r, a in zip(reading, applying, strict=True))
    ratio = whole / baseline
    per_key = keys_seconds / max(keys_made, 1)
    return [
        f"{name}: {DOMAINS:,} domains, {ACCOUNTS:,} accounts and owners, {IPS} IPs, "
        f"{len(POOLS)} pools; medians of {ROUNDS} alternating rounds",
        f"  plain bulk insert of the same rows: {baseline:.3f} s (without the audit events "
        f"{inventory_rows:.3f} s, against which the ratio would be {whole / inventory_rows:.2f}x)",
        f"  inventory apply:                    {whole:.3f} s "
        f"(reading the file {statistics.median(reading):.3f} s, applying and committing "
        f"{statistics.median(applying):.3f} s; {created:,} entries created and audited)",
        f"  ratio {ratio:.2f}x (target at most {TARGET}x): "
        f"{'met' if ratio <= TARGET else 'NOT met'}",
        f"  the same file again: {again:.3f} s, {unchanged:,} entries unchanged, nothing audited",
        f"  DKIM keys after the commit (not in the ratio): {keys_made} in {keys_seconds:.1f} s "
        f"with {os.cpu_count()} worker processes, {per_key * 1000:.0f} ms a key; "
        f"{DOMAINS:,} new domains would take about {per_key * DOMAINS / 60:.0f} min",
    ]


def _postgresql(directory: Path, path: Path) -> list[str]:
    if shutil.which("pg_ctl") is None or shutil.which("initdb") is None:
        return ["PostgreSQL: skipped (its server programs, pg_ctl and initdb, are not installed)"]
    # The throwaway server database_cost starts (with pg_stat_statements loaded, unused here).
    from bench.database_cost import _Server

    server = _Server()
    try:

        def fresh(name: str) -> str:
            url = server.database(f"bench_inventory_{name}")
            upgrade(url)
            return url

        return _compare("PostgreSQL 15", fresh, directory, path)
    finally:
        server.stop()


def run() -> list[str]:
    with clock.frozen_at(NOW), tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        path = directory / "inventory.toml"
        path.write_text(_inventory_text(DOMAINS), encoding="utf-8")

        def fresh(name: str) -> str:
            url = f"sqlite:///{directory}/{name}.db"
            upgrade(url)
            return url

        lines = _compare("SQLite", fresh, directory, path)
        if os.environ.get("MAILPOOLS_BENCH_SKIP_POSTGRES") != "1":
            lines += _postgresql(directory, path)
    return lines
