"""Where the keyboard is: ← → move between the ways of sending once Mail Servers shows,
every Tab stop is a control a person can see, and digits typed for a field reach it."""

from __future__ import annotations

from textual import containers
from textual.widgets import Button, Input

from app.console.app import MailpoolsConsole
from screens.decide_request import DecideRequestScreen
from screens.domain import DomainScreen
from tests.agent_world import agent_world
from tests.pilot import settle
from tests.ui.conftest import TERMINAL, add_daily_stats, make_console, notify_removal
from widgets.tick_list import TickList


def tab_stops(app, count: int = 12) -> list:
    """The widgets focus visits, Tab after Tab, from where it is now."""
    return [app.screen.focus_next() for _ in range(count)]


def no_bare_scroll_stop(stops: list) -> None:
    """A scrolling container that takes focus shows nothing focused: a lost keypress."""
    invisible = [w for w in stops if type(w).__module__ == containers.__name__]
    assert invisible == [], invisible


async def test_opening_mail_servers_puts_the_arrows_on_the_ways_of_sending(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "mail-servers")
        await settle(pilot)
        ways = app.screen.query_one("#ways")
        assert ways.has_focus
        await pilot.press("right")
        await settle(pilot)
        assert ways.selected == "transactional"
        assert app.screen.query_one("#domain-tabs").selected == "mail-servers"


async def test_switching_to_mail_servers_with_its_key_puts_the_arrows_on_the_ways(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example")
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert app.screen.query_one("#ways").has_focus
        await pilot.press("right")
        await settle(pilot)
        assert app.screen.query_one("#ways").selected == "transactional"


async def test_opening_a_notification_puts_the_arrows_on_the_ways(world):
    notify_removal(world, "news.acme.example")
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DomainScreen)
        await pilot.press("left")
        await settle(pilot)
        assert app.screen.query_one("#ways").selected == "dedicated"
        assert app.screen.query_one("#domain-tabs").selected == "mail-servers"


async def open_dedicated_form(app, pilot) -> None:
    """news.acme.example's Mail Servers tab, with the dedicated way chosen."""
    await settle(pilot)
    app.open_domain("news.acme.example", "mail-servers")
    await settle(pilot)
    app.screen.query_one("#ways").choose("dedicated")
    await settle(pilot)


async def test_after_filing_a_request_the_arrows_stay_on_the_ways(world):
    add_daily_stats(world, "news.acme.example", sent=12_000)
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await open_dedicated_form(app, pilot)
        app.screen.query_one("#volume", Input).value = "80k"
        app.screen.query_one("#volume", Input).focus()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen.query("#pending-dedicated")
        await pilot.press("left")
        await settle(pilot)
        assert app.screen.query_one("#ways").selected == "transactional"
        assert app.screen.query_one("#domain-tabs").selected == "mail-servers"


async def test_digits_typed_after_the_ways_reach_the_first_field(world):
    """From the ways, Tab goes straight to the volume field: 49999 is a volume, not a tab key."""
    add_daily_stats(world, "news.acme.example", sent=3_000)
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await open_dedicated_form(app, pilot)
        await pilot.press("tab", *"49999")
        await settle(pilot)
        assert app.screen.query_one("#domain-tabs").selected == "mail-servers"
        assert app.screen.query_one("#volume", Input).value == "49999"
        no_bare_scroll_stop(tab_stops(app))


async def test_decide_screen_first_tab_and_typed_reason_land_in_the_reason(sqlite_engine):
    """Focus starts on the first thing to decide: the IPs of a dedicated request, from
    which the first Tab leads to the reason; the reason itself for any other request."""
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for keys_first in (["tab"], []):
            await pilot.press("enter")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, DecideRequestScreen)
            assert screen.query_one("#decide-ips-box").display == bool(keys_first)
            await pilot.press(*keys_first, *"Campaign traffic seen")
            await settle(pilot)
            assert screen.query_one("#decide-reason", Input).value == "Campaign traffic seen"
            stops = tab_stops(app, 8)
            no_bare_scroll_stop(stops)
            assert {type(w) for w in stops} <= {Button, TickList} | {
                type(screen.query_one("#decide-reason"))
            }
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press("down")


def footer_keys(app) -> list[str]:
    return [key.description for key in app.screen.query("FooterKey") if key.description]


async def test_the_domain_footer_follows_focus_into_a_form_and_out_again(world):
    """Opening a domain changes its keys several times in a burst; the footer ends on the
    keys of where focus is, and follows each later move."""
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "mail-servers")
        await settle(pilot)
        assert "Back" in footer_keys(app) and "Submit" not in footer_keys(app)
        await pilot.press("right", "right")
        await settle(pilot)
        assert app.screen.query_one("#ways").selected == "dedicated"
        await pilot.press("tab")
        await settle(pilot)
        assert "Submit" in footer_keys(app)
        await pilot.press("shift+tab")
        await settle(pilot)
        assert app.screen.query_one("#ways").has_focus
        assert "Back" in footer_keys(app) and "Submit" not in footer_keys(app)
