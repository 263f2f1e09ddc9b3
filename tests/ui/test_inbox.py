"""The inbox: Enter opens the domain a notice is about, or offers the choice when it
covers several; reading or opening a notice clears it from the unread count."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from sqlmodel import select
from textual.widgets import DataTable, OptionList

from app.services.stats import add_daily_counts
from app.services.warmups import evaluate_warmups
from data.db import session_scope
from data.models import Domain, IpAddress, IpDailyStat, Notification
from screens.domain import DomainScreen
from screens.domain_choice import DomainChoice
from screens.notifications import NotificationsScreen
from tests.clock_moves import move_clock
from tests.pilot import settle
from tests.sending_world import make_dedicated
from tests.ui.conftest import TERMINAL, make_console, notify_removal

START = date(2026, 11, 26)


def a_held_day(engine, address: str) -> None:
    """The dedicated IP bounces too much on START; judged the next morning, the warm-up
    does not advance and the owner gets a warm-up notice without a domain in its title."""
    with session_scope(engine) as session:
        ip = session.exec(select(IpAddress).where(IpAddress.address == address)).one()
        counts = Counter(sent=100, bounced=40)
        add_daily_counts(
            session.connection(), IpDailyStat.__table__, "ip_id", START, {ip.id: counts}
        )
    move_clock(f"{(START + timedelta(days=1)).isoformat()}T06:00:00")
    assert evaluate_warmups(engine) == 1


def detail(app) -> str:
    return str(app.screen.query_one("#inbox-detail").content)


async def open_inbox(app, pilot) -> NotificationsScreen:
    await settle(pilot)
    await pilot.press("i")
    await settle(pilot)
    assert isinstance(app.screen, NotificationsScreen)
    return app.screen


async def test_enter_on_a_warm_up_notice_opens_its_domain(world):
    make_dedicated(world, ["news.acme.example"], ips=["127.0.0.20"])
    a_held_day(world, "127.0.0.20")
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        inbox = await open_inbox(app, pilot)
        assert "did not advance" in detail(app)
        assert "Enter opens news.acme.example." in detail(app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DomainScreen)
        assert app.screen.view.name == "news.acme.example"
        assert app.screen.query_one("#domain-tabs").selected == "mail-servers"
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is inbox


async def test_enter_on_a_notice_covering_several_domains_offers_the_choice(world):
    make_dedicated(world, ["acme.example", "news.acme.example"], ips=["127.0.0.20"])
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        inbox = await open_inbox(app, pilot)
        assert "was approved" in detail(app)
        assert "Enter offers its domains: acme.example, news.acme.example." in detail(app)
        await pilot.press("enter")
        await settle(pilot)
        choice = app.screen
        assert isinstance(choice, DomainChoice)
        options = choice.query_one(OptionList)
        assert options.has_focus
        assert [str(options.get_option_at_index(i).prompt) for i in range(2)] == [
            "acme.example",
            "news.acme.example",
        ]
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is inbox
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DomainScreen)
        assert app.screen.view.name == "news.acme.example"


async def test_reading_a_notice_clears_it_from_the_unread_count(world):
    make_dedicated(world, ["news.acme.example"], ips=["127.0.0.20"])
    a_held_day(world, "127.0.0.20")
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        assert "2 unread" in app.sub_title
        inbox = await open_inbox(app, pilot)
        table = inbox.query_one(DataTable)
        # The newest is shown, so it is read; the other is still unread.
        assert "1 unread" in app.sub_title
        assert [str(table.get_cell_at((row, 0))) for row in range(2)] == ["", "●"]
        await pilot.press("down")
        await settle(pilot)
        assert "unread" not in app.sub_title
        assert [str(table.get_cell_at((row, 0))) for row in range(2)] == ["", ""]
    with session_scope(world) as session:
        assert all(n.read_at is not None for n in session.exec(select(Notification)))


async def test_opening_a_notice_from_the_inbox_marks_it_read(world):
    make_dedicated(world, ["news.acme.example"], ips=["127.0.0.20"])
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        assert "1 unread" in app.sub_title
        await open_inbox(app, pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DomainScreen)
        assert "unread" not in app.sub_title
    with session_scope(world) as session:
        [notice] = session.exec(select(Notification)).all()
        assert notice.read_at is not None


async def test_long_titles_fit_the_width_and_reading_one_keeps_the_cursor_in_place(world):
    long_name = "transactional-notifications.eu-west.acme-holdings.example"
    with session_scope(world) as session:
        domain = session.exec(select(Domain).where(Domain.name == "news.acme.example")).one()
        domain.name = long_name
    for _ in range(3):
        notify_removal(world, long_name)
    app = make_console(world, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_inbox(app, pilot)
        table = app.screen.query_one("#inbox", DataTable)
        title = f"{long_name} was removed from its pool"

        def rows() -> list[str]:
            return [table.render_line(y).text for y in range(1, table.row_count + 1)]

        # No sideways scrolling: the title is cut, with an ellipsis, and shown in full below.
        assert table.virtual_size.width <= table.size.width
        assert not any(title in row for row in rows())
        assert all("…" in row for row in rows())
        assert title in detail(app)
        await pilot.press("down", "down")
        await settle(pilot)
        assert table.cursor_row == 2
        assert "●" not in rows()[2]  # read once shown, and the cursor stays on it
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert all(title in row for row in rows())
        assert table.cursor_row == 2
