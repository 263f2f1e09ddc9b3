"""The database fails under a running console: every screen says so and gives its
controls back, the traceback goes to the log file, and nothing waits on "Loading…"."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import event, make_url, text
from textual.widgets import Button, Input, Static

from app.console.app import MailpoolsConsole
from data.db import make_engine, normalise_url
from screens.confirm_dialog import ConfirmDialog
from screens.domain import DomainScreen
from screens.home import HomeScreen
from screens.notifications import NotificationsScreen
from screens.pools import PoolsScreen
from screens.prompt_dialog import PromptDialog
from screens.triage import TriageScreen
from tests.conftest import postgres_admin_url
from tests.factories import build_world
from tests.pilot import settle, wait_for
from tests.ui.conftest import TERMINAL, make_console
from widgets.transactional_form import TransactionalForm

GOOD_JUSTIFICATION = (
    "Invoices, payment receipts and password resets for Acme customers, "
    "each sent when the customer acts."
)
# The console gives up on a locked SQLite file after this long, not after 30 s.
SHORT_BUSY_TIMEOUT_MS = 100


@contextmanager
def database_down(database_url: str) -> Iterator[None]:
    """The database stops answering: a SQLite file locked by another program, or a
    PostgreSQL database that drops its connections and refuses new ones."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite":
        locker = sqlite3.connect(url.database, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        return
    admin = sa_create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    name = url.database
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


@pytest.fixture
def console_engine(engine, database_url):
    """The world on either backend, and an engine of the console's own that does not
    wait long on a lock."""
    build_world(engine)
    console_engine = make_engine(database_url)
    if console_engine.dialect.name == "sqlite":

        @event.listens_for(console_engine, "connect")
        def _short_busy_timeout(dbapi_connection, _record):
            dbapi_connection.execute(f"PRAGMA busy_timeout={SHORT_BUSY_TIMEOUT_MS}")

    yield console_engine
    console_engine.dispose()


def text_of(app: MailpoolsConsole, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


def everything_shown(app: MailpoolsConsole) -> str:
    return "\n".join(str(static.content) for static in app.screen.query(Static))


async def until_quiet(pilot) -> None:
    """Wait until no worker runs: failed ones are done with before the database returns."""
    await wait_for(pilot, lambda: not any(worker.is_running for worker in pilot.app.workers))


def assert_told(message: str, what: str, app: MailpoolsConsole) -> None:
    assert f"{what} failed: the database did not answer" in message
    assert f"The details are in {app.log_path}." in message
    assert "Try again in a moment" in message
    assert "Traceback" not in everything_shown(app)


async def test_owner_screens_say_the_database_failed_and_recover(
    console_engine, database_url, tmp_path
):
    log_path = tmp_path / "logs" / "console.log"
    app = make_console(console_engine, "alice", poll_seconds=3600, log_path=log_path)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        assert "Domains 1–" in text_of(app, "#home-pager")

        with database_down(database_url):
            await pilot.press("r")
            await wait_for(pilot, lambda: "failed" in text_of(app, "#home-pager"))
            assert_told(text_of(app, "#home-pager"), "Reading your domains", app)

            await pilot.press("i")
            assert isinstance(app.screen, NotificationsScreen)
            await wait_for(pilot, lambda: "Loading" not in text_of(app, "#inbox-detail"))
            assert_told(text_of(app, "#inbox-detail"), "Reading your notifications", app)
            await pilot.press("escape")

            app.push_screen(DomainScreen("acme.example"))
            await wait_for(
                pilot,
                lambda: (
                    isinstance(app.screen, DomainScreen)
                    and app.screen.query(".loading-note")
                    and "Loading" not in text_of(app, ".loading-note")
                ),
            )
            assert_told(text_of(app, ".loading-note"), "Reading the domain", app)
            await pilot.press("escape")
            await until_quiet(pilot)

        logged = log_path.read_text(encoding="utf-8")
        for what in ("reading your domains", "reading your notifications", "reading the domain"):
            assert f"{what} failed" in logged
        assert "Traceback (most recent call last)" in logged

        assert isinstance(app.screen, HomeScreen)
        await pilot.press("r")
        await settle(pilot)
        assert "Domains 1–" in text_of(app, "#home-pager")


async def test_a_request_filed_while_the_database_is_down_gives_the_form_back(
    console_engine, database_url, tmp_path
):
    submitted: list[TransactionalForm.Submitted] = []

    def hook(message) -> None:
        if isinstance(message, TransactionalForm.Submitted):
            submitted.append(message)

    app = make_console(console_engine, "alice", poll_seconds=3600, log_path=tmp_path / "c.log")
    async with app.run_test(size=TERMINAL, message_hook=hook) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "mail-servers")
        await settle(pilot)
        app.screen.query_one("#ways").choose("transactional")
        await settle(pilot)
        app.screen.query_one("#justification").text = GOOD_JUSTIFICATION
        app.screen.query_one("#confirmation").value = "acme.example"
        app.screen.query_one("#acknowledge").value = True
        await settle(pilot)
        button = app.screen.query_one("#submit-transactional", Button)

        with database_down(database_url):
            app.screen.query_one("#justification").focus()
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: "failed" in text_of(app, "#transactional-form-error"))
            assert_told(text_of(app, "#transactional-form-error"), "Filing the request", app)
            assert not button.disabled
            await until_quiet(pilot)

        assert [message.acknowledged for message in submitted] == [True]
        assert submitted[0].justification == GOOD_JUSTIFICATION
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "filed now" in text_of(app, "#pending-transactional")


async def test_staff_screens_and_dialogs_leave_loading_when_the_database_fails(
    console_engine, database_url, tmp_path
):
    app = make_console(console_engine, "sam", log_path=tmp_path / "console.log")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen)

        with database_down(database_url):
            await pilot.press("2")
            assert isinstance(app.screen, PoolsScreen)
            await wait_for(pilot, lambda: "Loading" not in text_of(app, "#pool-summary"))
            assert_told(text_of(app, "#pool-summary"), "Reading the pools", app)

            await pilot.press("1")
            await wait_for(pilot, lambda: "failed" in text_of(app, "#triage-status"))
            assert_told(text_of(app, "#triage-status"), "Reading the queue", app)
            await until_quiet(pilot)

        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "The queue is empty" in text_of(app, "#triage-status")

        await pilot.press("2")
        await settle(pilot)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        with database_down(database_url):
            await pilot.press("enter")
            await wait_for(pilot, lambda: "failed" in text_of(app, "#prompt-error"))
            assert_told(text_of(app, "#prompt-error"), "Checking the change", app)
            assert not app.screen.query_one("#prompt-submit", Button).disabled
            await until_quiet(pilot)

        # Checked and confirmed, then the change itself fails: told in the dialog too.
        prompt = app.screen
        prompt.query_one(Input).value = "4"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        with database_down(database_url):
            await pilot.press("enter")
            await wait_for(pilot, lambda: "failed" in text_of(app, "#prompt-error"))
            assert app.screen is prompt
            assert_told(text_of(app, "#prompt-error"), "Making the change", app)
            assert not app.screen.query_one("#prompt-submit", Button).disabled
            await until_quiet(pilot)
