"""The command palette offers every action of the screen it opens over, beside "Go to domain"."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette

from screens.domain import DomainScreen
from tests.pilot import settle
from tests.ui.conftest import TERMINAL, make_console


async def palette_offers(pilot) -> list[str]:
    """The titles the palette lists before anything is typed."""
    await pilot.press("ctrl+p")
    await settle(pilot)
    palette = pilot.app.screen
    assert isinstance(palette, CommandPalette)
    commands = palette.query_one(CommandList)
    titles = [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]
    await pilot.press("escape")
    await settle(pilot)
    return titles


async def run_from_palette(pilot, query: str) -> None:
    await pilot.press("ctrl+p")
    await settle(pilot)
    await pilot.press(*query)
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


def first_lines(titles: list[str]) -> set[str]:
    # An option's prompt is its title, then its help on the next line.
    return {title.splitlines()[0] for title in titles}


def screen_and_console_actions(screen) -> set[str]:
    return {
        active.binding.description
        for active in screen.active_bindings.values()
        if active.node in (screen, screen.app) and active.enabled
    }


async def test_the_palette_on_a_domain_offers_its_tabs_reload_and_back(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example")
        await settle(pilot)
        offered = first_lines(await palette_offers(pilot))
        assert {"Overview", "Mail Servers", "DNS", "Activity", "Reload", "Back"} <= offered
        assert {"Help", "Inbox", "Credentials", "Light or dark theme", "Quit"} <= offered
        assert any(title.startswith("Go to domain: ") for title in offered)
        assert screen_and_console_actions(app.screen) <= offered
        await run_from_palette(pilot, "activity")
        assert isinstance(app.screen, DomainScreen)
        assert app.screen.query_one("#domain-tabs").selected == "activity"


async def test_the_palette_on_a_form_offers_its_submit(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "mail-servers")
        await settle(pilot)
        app.screen.query_one("#ways").choose("dedicated")
        await settle(pilot)
        app.screen.query_one("#dedicated-form Input").focus()
        await settle(pilot)
        assert "Submit" in first_lines(await palette_offers(pilot))


async def test_the_palette_on_the_home_screen_offers_filtering_and_paging(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        offered = first_lines(await palette_offers(pilot))
        assert {"Filter", "Next", "Prev", "Reload"} <= offered
        assert screen_and_console_actions(app.screen) <= offered
        await run_from_palette(pilot, "filter")
        assert app.focused is app.screen.query_one("#home-filter")


async def test_the_palette_on_a_staff_section_offers_its_actions_and_the_sections(sqlite_engine):
    from tests.agent_world import agent_world

    agent_world(sqlite_engine)
    app = make_console(sqlite_engine, "sam")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        offered = first_lines(await palette_offers(pilot))
        assert {"Triage", "Pools", "Warm-ups", "Flags", "Audit"} <= offered
        assert screen_and_console_actions(app.screen) <= offered
        assert "Inbox" not in offered  # staff have none
        await run_from_palette(pilot, "audit")
        assert app.current_mode == "audit"
