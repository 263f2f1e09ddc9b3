"""Each of the agents' screens at 80×24 and 120×40, on the fixed clock and a fixed world, under
its own and long names."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from app.console.app import MailpoolsConsole
from app.services.pools import remove_domain
from data.db import session_scope
from tests.agent_world import agent_world
from tests.factories import user
from tests.pilot import settle
from tests.snapshots.worlds import LONG, VIEWS, domain_name, rename_domains


def _keys_then_settle(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.fixture
def console(sqlite_engine, world):
    agent_world(sqlite_engine)
    if world == LONG:
        rename_domains(sqlite_engine)
    return MailpoolsConsole(sqlite_engine, "sam")


@pytest.mark.parametrize(("world", "size"), VIEWS)
def test_triage(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle())


@pytest.mark.parametrize(("world", "size"), VIEWS)
def test_decide_dedicated_request(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle("enter"))


@pytest.mark.parametrize(("world", "size"), VIEWS)
def test_pools(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle("2"))


@pytest.mark.parametrize(("world", "size"), VIEWS)
def test_warmups(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle("3"))


@pytest.mark.parametrize(("world", "size"), VIEWS)
def test_flags(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle("4"))


@pytest.mark.parametrize(("world", "size"), VIEWS)
def test_audit_log(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle("5"))


def _reinstating(domain: str):
    """Open Pools with DOMAIN removed from its pool, highlight it and press r."""

    async def run_before(pilot) -> None:
        with session_scope(pilot.app.engine) as session:
            remove_domain(
                session, user(session, "tess"), domain, reason="Bounce rate 7.1% all week."
            )
        await _keys_then_settle("2")(pilot)
        members = pilot.app.screen.query_one("#pool-domains", DataTable)
        names = [str(members.get_row_at(row)[0]) for row in range(members.row_count)]
        members.move_cursor(row=names.index(domain))
        await _keys_then_settle("r")(pilot)

    return run_before


@pytest.mark.parametrize(("world", "size"), VIEWS)
def test_reinstating_asks_with_the_rates_against_the_limits(snap_compare, console, world, size):
    domain = domain_name(world, "offers.bolt.example")
    assert snap_compare(console, terminal_size=size, run_before=_reinstating(domain))
