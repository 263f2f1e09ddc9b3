"""The domain's Activity tab stays live: it reads again by itself, and r reads it at once."""

from __future__ import annotations

from sqlmodel import select
from textual.widgets import DataTable

import screens.domain
from app.services import audit
from data.db import session_scope
from data.models import Domain
from screens.domain import DomainScreen
from screens.help import KEYS
from tests.pilot import settle, wait_for
from tests.ui.conftest import TERMINAL, make_console


def record_change(engine, domain_name: str, action: str) -> None:
    with session_scope(engine) as session:
        domain = session.exec(select(Domain).where(Domain.name == domain_name)).one()
        audit.record(
            session,
            actor="sam",
            action=action,
            entity="domain",
            entity_id=domain.id,
            account_id=domain.account_id,
            domain_id=domain.id,
        )


def actions(table: DataTable) -> list[str]:
    return [str(table.get_row_at(row)[2]) for row in range(table.row_count)]


async def test_the_activity_tab_shows_new_changes_by_itself_keeping_focus_and_cursor(
    world, monkeypatch
):
    monkeypatch.setattr(screens.domain, "ACTIVITY_REFRESH_SECONDS", 0.2)
    for number in range(3):
        record_change(world, "acme.example", f"domain.checked.{number}")
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "activity")
        await settle(pilot)
        events = app.screen.query_one("#activity-events", DataTable)
        events.focus()
        events.move_cursor(row=2)
        await settle(pilot)
        record_change(world, "acme.example", "domain.checked.later")
        await wait_for(pilot, lambda: "domain.checked.later" in actions(events))
        assert app.focused is events
        assert events.cursor_row == 2
        assert app.screen.query_one("#domain-tabs").selected == "activity"


async def test_the_reload_key_is_in_the_footer_and_the_help(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "activity")
        await settle(pilot)
        assert isinstance(app.screen, DomainScreen)
        shown = {
            key: active.binding.description
            for key, active in app.screen.active_bindings.items()
            if active.binding.show
        }
        assert shown.get("r") == "Reload"
        assert any(key == "r" and where == "a domain" for where, key, _what in KEYS)


async def test_the_changes_fit_the_width_and_keep_their_place_when_read_again(world):
    for number in range(3):
        record_change(world, "acme.example", f"domain.checked.with-a-long-name-{number}")
    with session_scope(world) as session:
        domain = session.exec(select(Domain).where(Domain.name == "acme.example")).one()
        audit.record(
            session,
            actor="sam",
            action="domain.described",
            entity="domain",
            entity_id=domain.id,
            account_id=domain.account_id,
            domain_id=domain.id,
            after={"note": "a change whose details are far longer than the screen is wide"},
        )
    app = make_console(world, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "activity")
        await settle(pilot)
        events = app.screen.query_one("#activity-events", DataTable)
        # Nothing runs off the edge: the details are cut, with an ellipsis.
        assert events.virtual_size.width <= events.size.width
        drawn = [events.render_line(y).text for y in range(1, events.row_count + 1)]
        assert any("…" in row for row in drawn)
        events.focus()
        events.move_cursor(row=2)
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert events.cursor_row == 2
