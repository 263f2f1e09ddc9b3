"""Keys typed in one burst, as ssh delivers them, apply in the order typed in every text field.

Textual applies a printable key in the field but a bound key (Backspace, ← →, ctrl+u)
only after it has bubbled up to the App, so in a burst the characters typed after it
could land first: "9", Backspace, "150k" became "9150".
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from app.console.app import MailpoolsConsole
from screens.audit_log import AuditLogScreen
from screens.decide_request import DecideRequestScreen
from screens.pools import PoolsScreen
from screens.prompt_dialog import PromptDialog
from tests.agent_world import agent_world
from tests.pilot import burst, settle
from tests.ui.conftest import add_daily_stats, make_console

# Go to the end and clear the field, type 9, rub it out, type 150, go back two, rub out the 1, type 2.
KEYS = ("end", "ctrl+u", "9", "backspace", "1", "5", "0", "left", "left", "backspace", "2")
TYPED = "250"


def value_of(field: Input | TextArea) -> str:
    return field.text if isinstance(field, TextArea) else field.value


async def burst_into(pilot, selector: str) -> Input | TextArea:
    field = pilot.app.screen.query_one(selector)
    field.scroll_visible(animate=False)
    field.focus()
    await settle(pilot)
    burst(pilot, *KEYS)
    await settle(pilot)
    return field


async def open_way(pilot, domain: str, way: str) -> None:
    pilot.app.open_domain(domain, "mail-servers")
    await settle(pilot)
    pilot.app.screen.query_one("#ways").choose(way)
    await settle(pilot)


OWNER_FIELDS = {
    "home-filter": (None, "#home-filter"),
    "dedicated-volume": (("news.acme.example", "dedicated"), "#volume"),
    "dedicated-ips": (("news.acme.example", "dedicated"), "#ips"),
    "transactional-justification": (("acme.example", "transactional"), "#justification"),
    "transactional-confirmation": (("acme.example", "transactional"), "#confirmation"),
}


@pytest.mark.parametrize("field", list(OWNER_FIELDS))
async def test_a_burst_of_keys_applies_in_order_in_owner_fields(world, field):
    add_daily_stats(world, "news.acme.example", sent=3_000)
    place, selector = OWNER_FIELDS[field]
    app = make_console(world, "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        if place is not None:
            await open_way(pilot, *place)
        for _ in range(5):
            typed = await burst_into(pilot, selector)
            assert value_of(typed) == TYPED


async def staff_field(app, pilot, field: str) -> str:
    """Go where FIELD is, from the triage queue; its selector."""
    if field == "triage-search":
        return "#triage-search"
    if field == "decide-reason":
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DecideRequestScreen)
        return "#decide-reason"
    if field == "audit-domain":
        await pilot.press("5")
        await settle(pilot)
        assert isinstance(app.screen, AuditLogScreen)
        return "#audit-domain"
    await pilot.press("2")
    await settle(pilot)
    assert isinstance(app.screen, PoolsScreen)
    await pilot.press("w")
    await settle(pilot)
    assert isinstance(app.screen, PromptDialog)
    return "#prompt-value"


@pytest.mark.parametrize("field", ["triage-search", "decide-reason", "audit-domain", "weight"])
async def test_a_burst_of_keys_applies_in_order_in_staff_fields(sqlite_engine, field):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        selector = await staff_field(app, pilot, field)
        for _ in range(5):
            typed = await burst_into(pilot, selector)
            assert value_of(typed) == TYPED
