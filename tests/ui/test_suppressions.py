"""The Suppressions view: owners change their own account's list, agents any account's."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select, Static

from app.services import suppressions
from data.db import session_scope
from screens.suppressions import SuppressionsScreen
from tests.factories import user
from tests.pilot import Toasts, burst, burst_text, settle
from tests.ui.conftest import TERMINAL, make_console
from tests.ui.test_typing_bursts import TYPED, burst_into


def listed(engine, actor: str, account: str | None = None) -> list[tuple[str, str]]:
    with session_scope(engine) as session:
        return [
            (row.account, row.address)
            for row in suppressions.list_suppressions(
                session, user(session, actor), account=account
            )
        ]


def status_of(screen) -> str:
    return str(screen.query_one("#suppressions-status", Static).content)


def cells(screen) -> list[list[str]]:
    table = screen.query_one("#suppressions-table")
    return [
        [getattr(cell, "plain", str(cell)) for cell in table.get_row_at(row)]
        for row in range(table.row_count)
    ]


async def test_an_owner_adds_an_address_with_a_reason_and_removes_it_after_confirming(world):
    toasts = Toasts()
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL, message_hook=toasts) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SuppressionsScreen)
        assert "No addresses are suppressed" in status_of(screen)
        assert not screen.query("#suppress-account")

        await pilot.press("a")
        await pilot.press(*"Old.Customer@Example.org")
        await pilot.press("tab", *"asked us by phone", "enter")
        await settle(pilot)
        assert listed(world, "alice") == [("acme", "old.customer@example.org")]
        assert cells(screen)[0][:3] == ["old.customer@example.org", "added by hand", "now"]
        assert any("no mail goes to it now" in message for message in toasts.messages)
        assert screen.query_one("#suppress-address", Input).value == ""

        screen.query_one("#suppressions-table").focus()
        await pilot.press("x")
        await settle(pilot)
        assert "Press y to take it off" in status_of(screen)
        assert listed(world, "alice") == [("acme", "old.customer@example.org")]
        await pilot.press("y")
        await settle(pilot)
        assert listed(world, "alice") == []
        assert any("mail to it is sent again" in message for message in toasts.messages)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, SuppressionsScreen)


async def test_escape_keeps_an_address_whose_removal_was_asked(world):
    with session_scope(world) as session:
        suppressions.add_suppression(
            session, user(session, "bruno"), "x@example.org", reason="asked"
        )
    app = make_console(world, "bruno")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        screen = app.screen
        await pilot.press("x", "escape", "y")
        await settle(pilot)
        assert isinstance(app.screen, SuppressionsScreen)
        assert "Kept on the list" in status_of(screen)
        assert listed(world, "bruno") == [("bolt", "x@example.org")]


async def test_a_refused_address_is_told_in_the_form_in_one_sentence(world):
    with session_scope(world) as session:
        suppressions.add_suppression(
            session, user(session, "alice"), "x@example.org", reason="asked"
        )
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        screen = app.screen
        await pilot.press("a", *"not an address", "tab", *"typo check", "enter")
        await settle(pilot)
        error = str(screen.query_one("#suppress-error", Static).content)
        assert "is not an email address" in error and "\n" not in error
        assert app.focused is screen.query_one("#suppress-address")

        # What was typed is quoted back as written: never read as markup.
        address = screen.query_one("#suppress-address", Input)
        address.value = "[/b]@example.org"
        await pilot.press("enter")
        await settle(pilot)
        error = str(screen.query_one("#suppress-error", Static).content)
        assert error.startswith("'[/b]@example.org' is not an email address")
        assert app.focused is screen.query_one("#suppress-address")

        address = screen.query_one("#suppress-address", Input)
        address.value = "X@example.org"
        address.focus()
        await pilot.press("enter")
        await settle(pilot)
        error = str(screen.query_one("#suppress-error", Static).content)
        assert error == "x@example.org is already on acme's suppression list."

        address.value = "y@example.org"
        screen.query_one("#suppress-reason", Input).value = ""
        await pilot.press("enter")
        await settle(pilot)
        assert app.focused is screen.query_one("#suppress-reason")
        assert listed(world, "alice") == [("acme", "x@example.org")]


async def test_owners_see_only_their_own_accounts_list(world):
    with session_scope(world) as session:
        suppressions.add_suppression(
            session, user(session, "alice"), "a@example.org", reason="asked"
        )
        suppressions.add_suppression(
            session, user(session, "bruno"), "b@example.org", reason="asked"
        )
    app = make_console(world, "bruno")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert [row[0] for row in cells(app.screen)] == ["b@example.org"]
        assert "bolt" in str(app.screen.query_one("#suppressions-title", Static).content)


async def test_agents_see_every_account_filter_and_change_a_chosen_accounts_list(world):
    with session_scope(world) as session:
        suppressions.add_suppression(
            session, user(session, "alice"), "a@example.org", reason="asked"
        )
        suppressions.add_suppression(
            session, user(session, "bruno"), "b@example.org", reason="asked"
        )
    app = make_console(world, "sam")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SuppressionsScreen)
        assert sorted(row[:2] for row in cells(screen)) == [
            ["acme", "a@example.org"],
            ["bolt", "b@example.org"],
        ]

        await pilot.press("slash", *"b@")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert [row[:2] for row in cells(screen)] == [["bolt", "b@example.org"]]

        screen.query_one("#suppressions-account", Select).value = "acme"
        await settle(pilot)
        assert screen.query_one("#suppress-account", Select).value == "acme"
        await pilot.press("slash", "ctrl+u", "enter")
        await settle(pilot)
        assert [row[:2] for row in cells(screen)] == [["acme", "a@example.org"]]

        await pilot.press("a", *"c@example.org", "tab", *"legal hold", "enter")
        await settle(pilot)
        assert sorted(listed(world, "sam", "acme")) == [
            ("acme", "a@example.org"),
            ("acme", "c@example.org"),
        ]

        screen.query_one("#suppressions-table").focus()
        await pilot.press("x", "y")
        await settle(pilot)
        assert listed(world, "sam", "acme") == [("acme", "a@example.org")]
        assert listed(world, "sam", "bolt") == [("bolt", "b@example.org")]


@pytest.mark.parametrize("viewer", ["alice", "sam"])
@pytest.mark.parametrize("field", ["suppressions-search", "suppress-address", "suppress-reason"])
async def test_a_burst_of_keys_applies_in_order_in_the_suppression_fields(world, viewer, field):
    app = make_console(world, viewer)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        for _ in range(5):
            typed = await burst_into(pilot, f"#{field}")
            assert typed.value == TYPED


@pytest.mark.parametrize("viewer", ["alice", "sam"])
async def test_an_address_and_its_reason_typed_in_one_burst_are_added_whole(world, viewer):
    app = make_console(world, viewer)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        # As a fast typist's keys arrive over ssh: the address, Tab, the reason, Enter.
        await pilot.press("a")
        burst_text(pilot, "Late.Reply@Example.org")
        burst(pilot, "tab")
        burst_text(pilot, "asked twice by phone")
        burst(pilot, "enter")
        await settle(pilot)
        assert listed(world, "sam", "acme") == [("acme", "late.reply@example.org")]
        with session_scope(world) as session:
            [entry] = suppressions.list_suppressions(session, user(session, "sam"), account="acme")
        assert entry.note == "asked twice by phone"
        assert app.screen.query_one("#suppress-address", Input).value == ""
