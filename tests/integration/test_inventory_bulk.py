"""Large inventory files: each row and audit event written once, a second apply writes
nothing, and an error anywhere leaves the database as it was."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from app.services.inventory import InventoryError, apply_inventory, load_file
from data.db import session_scope
from data.models import Account, AuditEvent, Domain, Pool, User
from tests.database_state import database_state
from tests.factories import build_world

DOMAINS = 2_000
ACCOUNTS = 200


def _large_file(tmp_path: Path, *, last_user_account: str | None = None) -> Path:
    parts = [
        '[[pools]]\nname = "bulk-shared-1"\nkind = "shared"\n'
        "max_bounce_rate = 0.05\nmax_complaint_rate = 0.003\n",
        '[[pools]]\nname = "bulk-shared-2"\nkind = "shared"\n'
        "max_bounce_rate = 0.05\nmax_complaint_rate = 0.003\n",
        '[[ips]]\naddress = "127.0.9.1"\nhostname = "mta1.bulk.test"\npool = "bulk-shared-1"\n',
    ]
    parts += [f'[[accounts]]\nname = "bulk{a}"\nplan = "standard"\n' for a in range(ACCOUNTS)]
    parts += [
        f'[[domains]]\nname = "d{d}.bulk.test"\naccount = "bulk{d % ACCOUNTS}"\n'
        f"transactional_service = {'true' if d % 5 == 0 else 'false'}\n"
        for d in range(DOMAINS)
    ]
    parts += [
        f'[[users]]\nname = "bulk-owner{a}"\nrole = "owner"\naccount = "bulk{a}"\n'
        for a in range(ACCOUNTS)
    ]
    if last_user_account is not None:
        parts.append(
            f'[[users]]\nname = "bulk-late"\nrole = "owner"\naccount = "{last_user_account}"\n'
        )
    path = tmp_path / "bulk.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _apply(engine, path: Path):
    with session_scope(engine) as session:
        return apply_inventory(session, None, load_file(path))


def test_a_large_file_writes_each_row_and_audit_event_once_and_again_nothing(engine, tmp_path):
    path = _large_file(tmp_path)
    report = _apply(engine, path)
    entries = 2 + 1 + ACCOUNTS + DOMAINS + ACCOUNTS
    assert len(report.created) == len(set(report.created)) == entries
    assert len(report.keyless) == DOMAINS
    with Session(engine) as session:
        domains = {d.name: d for d in session.exec(select(Domain))}
        accounts = {a.id: a.name for a in session.exec(select(Account))}
        pools = {p.id: p.name for p in session.exec(select(Pool))}
        owners = {u.name: u for u in session.exec(select(User))}
        events = list(session.exec(select(AuditEvent).order_by(AuditEvent.id)))
    assert set(domains) == {f"d{d}.bulk.test" for d in range(DOMAINS)}
    for d in range(DOMAINS):
        domain = domains[f"d{d}.bulk.test"]
        assert accounts[domain.account_id] == f"bulk{d % ACCOUNTS}"
        assert domain.transactional_service is (d % 5 == 0)
    assert all(accounts[owners[f"bulk-owner{a}"].account_id] == f"bulk{a}" for a in range(ACCOUNTS))
    # New domains are spread over the shared pools as one at a time would be: evenly.
    spread = Counter(pools[d.shared_pool_id] for d in domains.values())
    assert spread == {"bulk-shared-1": DOMAINS // 2, "bulk-shared-2": DOMAINS // 2}
    # One audit event per entry, by the operator, naming the row and its own ids.
    assert Counter(e.action for e in events) == {
        "inventory.pool.create": 2,
        "inventory.ip.create": 1,
        "inventory.account.create": ACCOUNTS,
        "inventory.domain.create": DOMAINS,
        "inventory.user.create": ACCOUNTS,
    }
    assert len({(e.action, e.entity_id) for e in events}) == len(events)
    assert {e.actor for e in events} == {"operator"}
    for event in events:
        if event.entity == "domain":
            domain = domains[event.entity_id]
            assert (event.domain_id, event.account_id) == (domain.id, domain.account_id)
        if event.entity == "account":
            assert accounts[event.account_id] == event.entity_id

    before = database_state(engine)
    again = _apply(engine, path)
    assert (again.created, again.updated, again.keyless) == ([], [], [])
    assert again.unchanged == entries
    assert database_state(engine) == before


@pytest.mark.parametrize(
    ("account", "field"),
    [("nobody", "account"), ("bulk1\u202e", "account")],
    ids=["unknown-account", "hidden-character"],
)
def test_an_error_in_the_last_entry_of_a_large_file_writes_nothing(
    engine, tmp_path, account, field
):
    build_world(engine)
    before = database_state(engine)
    path = _large_file(tmp_path, last_user_account=account)
    with pytest.raises(InventoryError) as refusal:
        _apply(engine, path)
    assert str(refusal.value).startswith(f"{path}: users[{ACCOUNTS}], field '{field}': ")
    assert database_state(engine) == before


def test_updates_of_many_rows_are_written_and_audited_with_before_and_after(engine, tmp_path):
    path = _large_file(tmp_path)
    _apply(engine, path)
    text = path.read_text(encoding="utf-8")
    flipped = text.replace("transactional_service = true", "transactional_service = maybe")
    flipped = flipped.replace("transactional_service = false", "transactional_service = true")
    flipped = flipped.replace("transactional_service = maybe", "transactional_service = false")
    path.write_text(flipped.replace('plan = "standard"', 'plan = "premium"'), encoding="utf-8")
    report = _apply(engine, path)
    assert len(report.updated) == DOMAINS + ACCOUNTS
    with Session(engine) as session:
        flags = {d.name: d.transactional_service for d in session.exec(select(Domain))}
        plans = {a.name: a.plan for a in session.exec(select(Account))}
        updates = list(session.exec(select(AuditEvent).where(AuditEvent.action.like("%.update"))))
    assert all(flags[f"d{d}.bulk.test"] is (d % 5 != 0) for d in range(DOMAINS))
    assert set(plans.values()) == {"premium"}
    assert Counter(e.action for e in updates) == {
        "inventory.domain.update": DOMAINS,
        "inventory.account.update": ACCOUNTS,
    }
    sample = next(e for e in updates if e.entity_id == "d5.bulk.test")
    assert (sample.before, sample.after) == (
        '{"transactional_service": true}',
        '{"transactional_service": false}',
    )
