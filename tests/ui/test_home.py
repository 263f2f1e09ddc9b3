"""The home screen: the account's domains with volume, rates and progress, paged and filtered."""

from __future__ import annotations

from sqlmodel import select

from app import clock
from data.db import session_scope
from data.models import Account, Domain
from screens.domain import DomainScreen
from screens.home import HomeScreen
from tests.pilot import settle
from tests.ui.conftest import TERMINAL, add_daily_stats, make_console


def text_of(cell) -> str:
    return getattr(cell, "plain", str(cell))


async def test_home_shows_own_domains_with_humanized_volume_and_coloured_rates(world):
    # 82,400 sent over seven days; bounces at 6% break shared-a's 5% limit.
    add_daily_stats(world, "acme.example", days=7, sent=11_086, bounced=686, complaints=2)
    add_daily_stats(world, "news.acme.example", days=7, sent=100, bounced=1)
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        table = app.screen.query_one("#home-table")
        assert [row.value for row in table.rows] == [
            "acme.example",
            "billing.acme.example",
            "news.acme.example",
        ]

        def cell(domain: str, column: str):
            return table.get_cell(domain, column)

        assert text_of(cell("acme.example", "mode")) == "shared"
        assert text_of(cell("acme.example", "pool")) == "shared-a"
        assert text_of(cell("acme.example", "volume")) == "82.4k"
        assert text_of(cell("acme.example", "bounce")) == "5.83% ✗"
        assert "red" in str(cell("acme.example", "bounce").style)
        assert text_of(cell("acme.example", "complaint")) == "0.02% ✓"
        assert "green" in str(cell("acme.example", "complaint").style)
        # 707 messages are enough to judge, and 1% is well under the 5% limit.
        assert text_of(cell("news.acme.example", "volume")) == "707"
        assert "green" in str(cell("news.acme.example", "bounce").style)
        assert text_of(cell("billing.acme.example", "bounce")).strip() == "—"
        assert "bolt.example" not in [row.value for row in table.rows]
        assert "Domains 1–3 of 3" in str(app.screen.query_one("#home-pager").content)


async def test_home_pages_through_many_domains_and_filters_by_name(world):
    with session_scope(world) as session:
        acme = session.exec(select(Account).where(Account.name == "acme")).one()
        for number in range(120):
            session.add(
                Domain(
                    name=f"d{number:03}.acme.example", account_id=acme.id, created_at=clock.now()
                )
            )
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        screen = app.screen
        assert "Domains 1–50 of 123" in str(screen.query_one("#home-pager").content)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert "Domains 51–100 of 123" in str(screen.query_one("#home-pager").content)
        assert screen.query_one("#home-table").row_count == 50
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert screen.query_one("#home-table").row_count == 23
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert "Domains 51–100 of 123" in str(screen.query_one("#home-pager").content)
        await pilot.press("slash", *"d11", "enter")
        await settle(pilot)
        rows = [row.value for row in screen.query_one("#home-table").rows]
        assert rows == [f"d{n}.acme.example" for n in range(110, 120)]
        await pilot.press("slash", *"nothing-like-this", "enter")
        await settle(pilot)
        assert "No domain matches" in str(screen.query_one("#home-pager").content)


async def test_enter_on_a_row_opens_that_domain(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DomainScreen)
        assert app.screen.view.name == "billing.acme.example"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_start_up_data_read_beforehand_paints_the_home_screen_on_mount(world):
    from app.console.owner_backend import ConsoleBackend

    startup = ConsoleBackend(world, "alice").startup()
    app = make_console(world, "alice", startup=startup)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert app.screen.page is startup.home
        assert app.screen.query_one("#home-table").row_count == 3


async def test_switching_tabs_by_number_keeps_the_keyboard_on_the_tabs(world):
    """Focus inside a pane that a number key hides moves to the tab strip, not nowhere;
    on Mail Servers to its ways of sending, which the arrows then move between."""
    app = make_console(world, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("4", "tab")
        await settle(pilot)
        assert app.focused is not None and app.focused.id != "domain-tabs"
        await pilot.press("2")
        await settle(pilot)
        assert app.focused is not None and app.focused.id == "ways"
        await pilot.press("right")
        await settle(pilot)
        assert app.screen.query_one("#domain-tabs").selected == "mail-servers"
        assert app.screen.query_one("#ways").selected == "transactional"
        await pilot.press("3")
        await settle(pilot)
        assert app.focused is not None and app.focused.id == "domain-tabs"
        await pilot.press("right")
        await settle(pilot)
        assert app.screen.query_one("#domain-tabs").selected == "activity"
