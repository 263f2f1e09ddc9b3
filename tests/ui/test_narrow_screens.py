"""At 80×24, with domain names of 30 characters and more, what a screen is for stays in sight:
Home shows what a pending request asks for, the decide screen its Approve and Deny, Triage
when each request was filed."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from textual.widgets import Button, DataTable

from app.services.requests import filing
from data.db import session_scope
from data.models import PoolRequest
from screens.decide_request import DecideRequestScreen
from tests.agent_world import JUSTIFICATION, NOW, agent_world
from tests.factories import user
from tests.pilot import settle
from tests.ui.conftest import make_console
from tests.ui.test_fitted_columns import rename, shown_rows

NARROW = (80, 24)
LONG_NAMES = {
    "billing.acme.example": "billing-and-receipts.acme.example",
    "news.acme.example": "newsletter-and-offers.acme.example",
    "offers.bolt.example": "seasonal-offers-and-news.bolt.example",
}


def lengthen_names(engine) -> None:
    for old, new in LONG_NAMES.items():
        rename(engine, old, new)


def fully_shown(screen, widget) -> bool:
    """Whether all of WIDGET is on the screen now, not scrolled or pushed out of sight."""
    geometry = screen.find_widget(widget)
    return geometry.clip.contains_region(geometry.region) and screen.region.contains_region(
        geometry.region
    )


async def test_home_at_80_columns_shows_what_each_pending_request_asks_for(world):
    with session_scope(world) as session:
        alice = user(session, "alice")
        filing.request_dedicated(session, alice, ["news.acme.example"], weekly_volume="60k")
        filing.request_transactional(
            session,
            alice,
            "billing.acme.example",
            justification=JUSTIFICATION,
            confirmation="billing.acme.example",
        )
    lengthen_names(world)
    app = make_console(world, "alice")
    async with app.run_test(size=NARROW) as pilot:
        await settle(pilot)
        rows = shown_rows(app.screen.query_one("#home-table", DataTable))
        assert any("transact." in row for row in rows), rows
        assert any("dedicated" in row for row in rows), rows


async def test_the_decide_screen_at_80x24_shows_approve_and_deny_and_every_tab_stop(
    sqlite_engine,
):
    agent_world(sqlite_engine)
    lengthen_names(sqlite_engine)
    app = make_console(sqlite_engine, "sam")
    async with app.run_test(size=NARROW) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DecideRequestScreen)
        for button in ("#approve", "#deny"):
            assert fully_shown(screen, screen.query_one(button, Button)), button
        stops = len(screen.focus_chain)
        for _ in range(stops + 1):
            await pilot.press("tab")
            await settle(pilot)
            assert app.focused is not None and fully_shown(screen, app.focused), app.focused


async def test_triage_at_80_columns_keeps_when_each_request_was_filed(sqlite_engine):
    ids = agent_world(sqlite_engine)
    lengthen_names(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        request = session.exec(select(PoolRequest).where(PoolRequest.id == ids["acme"])).one()
        request.created_at = NOW - timedelta(minutes=10)
    app = make_console(sqlite_engine, "sam")
    async with app.run_test(size=NARROW) as pilot:
        await settle(pilot)
        rows = shown_rows(app.screen.query_one("#triage-table", DataTable))
        assert any("3 days ago" in row for row in rows), rows
        assert any("10 minutes ago" in row for row in rows), rows
