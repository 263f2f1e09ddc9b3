"""Every state reads without colour: a tick or a blank box, a rate's mark beside its number
(on the highlighted row too), one set of colours for the legend and the tables, and no
table scrolled sideways by a stray scrollbar."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from screens.decide_request import DecideRequestScreen
from tests.agent_world import agent_world
from tests.pilot import settle
from tests.ui.conftest import add_daily_stats, make_console
from tests.ui.test_narrow_screens import NARROW, lengthen_names
from widgets.tick_list import TICKED, TickList


def lines(widget, count: int) -> list[str]:
    return [widget.render_line(y).text for y in range(count)]


def segment_colour(strip, words: str):
    """The colour WORDS are drawn in, as the terminal receives it (not its name)."""
    for segment in strip:
        if words in segment.text:
            colour = segment.style.color
            return colour and (colour.type, colour.number, colour.triplet)
    raise AssertionError(f"{words!r} is not on the line {strip.text!r}")


async def test_ticked_and_unticked_ips_differ_by_their_mark(sqlite_engine):
    agent_world(sqlite_engine)
    app = make_console(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DecideRequestScreen)
        choices = app.screen.query_one("#decide-ips", TickList)
        shown = lines(choices, choices.option_count)
        ticked = [line for line in shown if TICKED in line]
        assert [line.split()[-1] for line in ticked] == ["127.0.0.21", "127.0.0.22"]
        assert len(shown) - len(ticked) == 3
        choices.focus()
        choices.highlighted = 0
        await pilot.press("space")
        await settle(pilot)
        assert TICKED not in lines(choices, 1)[0]


async def test_a_rate_keeps_its_mark_on_the_highlighted_row(world):
    add_daily_stats(world, "acme.example", sent=1_000, bounced=5)
    add_daily_stats(world, "news.acme.example", sent=1_000, bounced=200, complaints=20)
    app = make_console(world, "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#home-table", DataTable)
        rows = {str(table.coordinate_to_cell_key((row, 0)).row_key.value): row for row in range(3)}
        table.move_cursor(row=rows["acme.example"])
        await settle(pilot)
        assert "✓" in table.render_line(1 + rows["acme.example"]).text
        table.move_cursor(row=rows["news.acme.example"])
        await settle(pilot)
        assert "✗" in table.render_line(1 + rows["news.acme.example"]).text


async def test_the_legend_and_the_table_use_the_same_colours(world):
    add_daily_stats(world, "billing.acme.example", sent=1_000, bounced=5)
    app = make_console(world, "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#home-table", DataTable)
        table.move_cursor(row=0)  # acme.example: billing's row is not the highlighted one
        await settle(pilot)
        billing = next(
            row
            for row in range(table.row_count)
            if table.coordinate_to_cell_key((row, 0)).row_key.value == "billing.acme.example"
        )
        assert billing != table.cursor_row
        legend = app.screen.query_one("#home-legend", Static)
        well_under = segment_colour(legend.render_line(0), "well under")
        assert well_under is not None
        assert segment_colour(table.render_line(1 + billing), "0.50%") == well_under


async def test_no_staff_table_scrolls_sideways_at_80_columns(sqlite_engine):
    agent_world(sqlite_engine)
    lengthen_names(sqlite_engine)
    app = make_console(sqlite_engine, "sam")
    async with app.run_test(size=NARROW) as pilot:
        await settle(pilot)
        for section in "12345":
            await pilot.press(section)
            await settle(pilot)
            for table in app.screen.query(DataTable):
                assert not table.show_horizontal_scrollbar, (section, table.id)
