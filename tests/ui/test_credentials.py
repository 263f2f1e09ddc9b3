"""The Credentials view: owners create (the secret shown once) and revoke; agents only read."""

from __future__ import annotations

from textual.widgets import Button, DataTable, Static

from app.services import credentials
from data.db import session_scope
from screens.credentials import CredentialsScreen
from tests.factories import user
from tests.pilot import Toasts, settle
from tests.ui.conftest import TERMINAL, make_console


def text_of(cell) -> str:
    return getattr(cell, "plain", str(cell))


async def test_an_owner_creates_a_credential_sees_its_secret_once_and_revokes_it(world):
    toasts = Toasts()
    app = make_console(world, "bruno")
    async with app.run_test(size=TERMINAL, message_hook=toasts) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CredentialsScreen)
        assert "No credentials yet" in str(screen.query_one("#credentials-status").content)
        await pilot.click("#create-campaign")
        await settle(pilot)
        shown = str(screen.query_one("#credentials-secret", Static).content)
        username = shown.split("username[/b]", 1)[1].split()[0]
        secret = shown.split("secret[/b]", 1)[1].split()[0]
        assert username.startswith("bolt-campaign-")
        with session_scope(world) as session:
            login = credentials.authenticate(session, username, secret)
        assert login is not None and login.kind == "campaign"
        assert any("shown only this once" in message for message in toasts.messages)
        table = screen.query_one(DataTable)
        assert [text_of(table.get_cell_at((0, column))) for column in (0, 1, 3)] == [
            "campaign",
            username,
            "active",
        ]

        await pilot.press("x")
        await settle(pilot)
        assert "Press y to revoke" in str(screen.query_one("#credentials-status").content)
        await pilot.press("y")
        await settle(pilot)
        assert text_of(table.get_cell_at((0, 3))).startswith("revoked")
        assert "revoked by bruno" in str(screen.query_one("#credentials-status").content)
        with session_scope(world) as session:
            assert credentials.authenticate(session, username, secret) is None
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, CredentialsScreen)


async def test_escape_keeps_a_credential_whose_revocation_was_asked(world):
    with session_scope(world) as session:
        credentials.create_credential(session, user(session, "alice"), kind="transactional")
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        screen = app.screen
        await pilot.press("x", "escape", "y")
        await settle(pilot)
        assert isinstance(app.screen, CredentialsScreen)
        assert text_of(screen.query_one(DataTable).get_cell_at((0, 3))) == "active"


async def test_agents_see_every_accounts_credentials_read_only_without_secrets(world):
    with session_scope(world) as session:
        alice = credentials.create_credential(session, user(session, "alice"), kind="campaign")
        bruno = credentials.create_credential(session, user(session, "bruno"), kind="broadcast")
    app = make_console(world, "sam")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CredentialsScreen)
        table = screen.query_one(DataTable)
        rows = [
            [text_of(table.get_cell_at((row, column))) for column in (0, 1, 2)]
            for row in range(table.row_count)
        ]
        assert rows == [
            ["bolt", "broadcast", bruno.subject.credential.username],
            ["acme", "campaign", alice.subject.credential.username],
        ]
        assert not screen.query(Button)
        await pilot.press("x", "y")
        await settle(pilot)
        assert all(text_of(table.get_cell_at((row, 4))) == "active" for row in range(2))
        painted = " ".join(str(widget.render()) for widget in screen.query(Static))
        assert alice.subject.secret not in painted and bruno.subject.secret not in painted
