"""Notifications arriving as toasts and in the inbox; help, palette and staff start screens."""

from __future__ import annotations

from sqlmodel import select

from app.services.notifications import notify
from app.settings import Settings
from data.db import session_scope
from data.models import Account, Notification
from screens.domain import DomainScreen
from screens.help import HelpScreen
from screens.home import HomeScreen
from screens.notifications import NotificationsScreen
from screens.triage import TriageScreen
from tests.pilot import Toasts, settle, wait_for
from tests.ui.conftest import TERMINAL, make_console, notify_removal


def send_notification(engine, account: str, title: str, body: str = "") -> None:
    with session_scope(engine) as session:
        account_id = session.exec(select(Account.id).where(Account.name == account)).one()
        notify(session, account_id=account_id, kind="warmup_complete", title=title, body=body)


async def test_a_notification_arriving_while_open_shows_as_a_toast(world):
    send_notification(world, "acme", "An old notification")
    app = make_console(world, "alice", poll_seconds=0.1)
    toasts = Toasts()
    async with app.run_test(size=TERMINAL, message_hook=toasts) as pilot:
        await settle(pilot)
        assert "1 unread" in app.sub_title
        send_notification(world, "acme", "Your dedicated IP is ready", "All sending uses it now.")
        send_notification(world, "bolt", "Not for alice")
        await wait_for(pilot, lambda: toasts.shown)
        assert toasts.titles == ["Your dedicated IP is ready"]
        assert "2 unread" in app.sub_title


async def test_inbox_lists_notifications_and_marks_them_read(world):
    send_notification(world, "acme", "Your transactional pool request was denied", "Too vague.")
    send_notification(world, "acme", "Your dedicated IP is ready")
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, NotificationsScreen)
        table = app.screen.query_one("#inbox")
        assert table.row_count == 2
        assert "Your dedicated IP is ready" in str(app.screen.query_one("#inbox-detail").content)
        await pilot.press("down")
        await settle(pilot)
        assert "Too vague." in str(app.screen.query_one("#inbox-detail").content)
        await pilot.press("m")
        await settle(pilot)
        with session_scope(world) as session:
            assert all(n.read_at is not None for n in session.exec(select(Notification)))
        assert "unread" not in app.sub_title
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_help_lists_the_keys_and_closes(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_command_palette_goes_to_a_domain(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"go to billing")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DomainScreen)
        assert app.screen.view.name == "billing.acme.example"


async def test_domain_keys_switch_tabs_and_activity_lists_audit_events(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example")
        await settle(pilot)
        tabs = app.screen.query_one("#domain-tabs")
        await pilot.press("3")
        await settle(pilot)
        assert tabs.selected == "dns"
        assert "No DNS check has run" in str(app.screen.query_one("#dns-status").content)
        await pilot.press("4")
        await settle(pilot)
        assert tabs.selected == "activity"
        events = app.screen.query_one("#activity-events")
        assert "inventory.domain.create" in [
            str(events.get_row_at(i)[2]) for i in range(events.row_count)
        ]
        text = str(tabs.render())
        await pilot.click("#domain-tabs", offset=(1 + text.index("Mail Servers"), 0))
        await settle(pilot)
        assert tabs.selected == "mail-servers"
        assert app.screen.query("#mail-servers-panel")


async def test_an_owner_cannot_open_another_accounts_domain(world):
    app = make_console(world, "alice")
    toasts = Toasts()
    async with app.run_test(size=TERMINAL, message_hook=toasts) as pilot:
        await settle(pilot)
        app.open_domain("bolt.example")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert toasts.messages == ["There is no sending domain named 'bolt.example'."]


async def test_staff_start_on_the_triage_screen_and_owners_on_their_domains(world):
    staff = make_console(world, "sam")
    async with staff.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        assert isinstance(staff.screen, TriageScreen)
        assert staff.current_mode == "triage"
    owner = make_console(world, "alice")
    async with owner.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        assert isinstance(owner.screen, HomeScreen)


async def test_an_unknown_user_is_refused_with_a_message(world):
    app = make_console(world, "nobody")
    async with app.run_test(size=TERMINAL) as pilot:
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 1


async def test_enter_on_a_notification_opens_its_domain(world):
    notify_removal(world, "news.acme.example")
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        assert "Enter opens news.acme.example" in str(app.screen.query_one("#inbox-detail").content)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DomainScreen)
        assert app.screen.view.name == "news.acme.example"
        assert app.screen.query_one("#domain-tabs").selected == "mail-servers"


async def test_the_default_theme_follows_the_terminal_palette_and_toggles(world, monkeypatch):
    from app.console.app import MailpoolsConsole

    monkeypatch.delenv("MAILPOOLS_THEME", raising=False)
    app = MailpoolsConsole(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        assert app.theme == "ansi-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "ansi-light"
        await pilot.press("ctrl+t")
        assert app.theme == "ansi-dark"
    monkeypatch.setenv("MAILPOOLS_THEME", "ansi-light")
    assert MailpoolsConsole(world, "alice", theme=Settings.load().theme).theme == "ansi-light"


async def test_a_screenshot_is_saved_where_it_can_be_and_says_where(world, tmp_path, monkeypatch):
    """On a server without a Downloads folder the screenshot goes to the home folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(tmp_path / "Downloads"))
    app = make_console(world, "alice")
    toasts = Toasts()
    async with app.run_test(size=TERMINAL, message_hook=toasts) as pilot:
        await settle(pilot)
        app.action_screenshot()
        await settle(pilot)
    saved = list(tmp_path.glob("*.svg"))
    assert len(saved) == 1
    assert toasts.messages == [f"Saved to {saved[0]}"]
