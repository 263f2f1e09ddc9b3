"""Each of the agents' screens at 80×24 and 120×40, on the fixed clock and a fixed world."""

from __future__ import annotations

import pytest

from app.console.app import MailpoolsConsole
from tests.agent_world import agent_world
from tests.pilot import settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def _keys_then_settle(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.fixture
def console(sqlite_engine, monkeypatch):
    agent_world(sqlite_engine)
    return MailpoolsConsole(sqlite_engine, "sam")


@pytest.mark.parametrize("size", SIZES)
def test_triage(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle())


@pytest.mark.parametrize("size", SIZES)
def test_decide_dedicated_request(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle("enter"))


@pytest.mark.parametrize("size", SIZES)
def test_pools(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle("2"))


@pytest.mark.parametrize("size", SIZES)
def test_warmups(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle("3"))


@pytest.mark.parametrize("size", SIZES)
def test_flags(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle("4"))


@pytest.mark.parametrize("size", SIZES)
def test_audit_log(snap_compare, console, size):
    assert snap_compare(console, terminal_size=size, run_before=_keys_then_settle("5"))
