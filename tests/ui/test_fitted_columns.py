"""Columns as wide as their content: nothing is cut while the screen has room, and what
must be cut on a narrow screen ends in an ellipsis."""

from __future__ import annotations

from sqlmodel import select
from textual.app import App, ComposeResult
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from data.db import session_scope
from data.models import Domain
from tests.agent_world import agent_world
from tests.pilot import settle
from tests.ui.conftest import make_console
from widgets.fitted_table import (
    NARROWEST,
    SCROLLBAR,
    FittedTable,
    fit_widths,
    natural_widths,
    shown_columns,
    total_width,
)

LONG_NAME = "transactional-notifications.acme.example"


def rename(engine, old: str, new: str) -> None:
    with session_scope(engine) as session:
        session.exec(select(Domain).where(Domain.name == old)).one().name = new


def shown_rows(table: DataTable) -> list[str]:
    return [table.render_line(y).text for y in range(1, table.row_count + 1)]


def test_columns_keep_their_widths_when_they_fit_and_the_widest_give_way_first():
    assert fit_widths([10, 30, 6], 60) == [10, 30, 6]
    # Six columns too many: the widest alone gives them up.
    assert fit_widths([10, 30, 6], 46) == [10, 24, 6]
    # Far too narrow: the two widest shrink together, none below the narrowest kept.
    assert fit_widths([20, 30, 4], 30) == [10, 10, 4]
    assert min(fit_widths([20, 30, 8], 10)) == NARROWEST
    # Columns named to give way first do, before wider ones.
    assert fit_widths([20, 30, 10], 60, cut_first=[2]) == [20, 29, 5]
    assert fit_widths([20, 30, 10], 50, cut_first=[2, 1]) == [20, 14, 10]


def test_columns_kept_whole_give_way_last_and_spare_columns_leave_first():
    # The widest column would give way first, but it is to be kept whole.
    assert fit_widths([10, 30, 6], 46, keep_whole=[1]) == [5, 30, 5]
    # When nothing else can give, even a column kept whole does.
    assert fit_widths([6, 30, 5], 40, keep_whole=[1]) == [5, 24, 5]
    assert shown_columns([10, 20, 8], 60, spare=[2]) == [0, 1, 2]
    assert shown_columns([10, 20, 8], 40, spare=[2]) == [0, 1]
    # A spare column leaves even when the rest will still have to be cut.
    assert shown_columns([10, 20, 8], 20, spare=[2, 0]) == [1]


async def test_home_shows_a_long_domain_whole_at_120_columns_and_cut_with_an_ellipsis_at_60(
    world,
):
    rename(world, "news.acme.example", LONG_NAME)
    app = make_console(world, "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#home-table", DataTable)
        rows = shown_rows(table)
        assert any(LONG_NAME in row for row in rows)
        assert not any("…" in row for row in rows)
        await pilot.resize_terminal(60, 24)
        await settle(pilot)
        rows = shown_rows(table)
        assert not any(LONG_NAME in row for row in rows)
        assert any("…" in row for row in rows)
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert any(LONG_NAME in row for row in shown_rows(table))


async def test_staff_tables_show_whole_values_while_there_is_room(sqlite_engine):
    agent_world(sqlite_engine)
    rename(sqlite_engine, "offers.bolt.example", "seasonal-offers-and-news.bolt.example")
    rename(sqlite_engine, "bolt.example", "bolt-transactional-mail.example")
    app = make_console(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for key, table_id in (
            ("1", "#triage-table"),
            ("3", "#warmups-table"),
            ("5", "#audit-table"),
        ):
            await pilot.press(key)
            await settle(pilot)
            rows = shown_rows(app.screen.query_one(table_id, DataTable))
            assert rows and not any("…" in row for row in rows), (table_id, rows)
        audit = "\n".join(shown_rows(app.screen.query_one("#audit-table", DataTable)))
        assert "request.transactional.deny" in audit
        assert "seasonal-offers-and-news.bolt.example" in audit


async def test_the_transactional_form_shows_the_whole_name_to_type_and_its_acknowledgement(world):
    rename(world, "acme.example", LONG_NAME)
    app = make_console(world, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_domain(LONG_NAME, "mail-servers")
        await settle(pilot)
        app.screen.query_one("#ways").choose("transactional")
        await settle(pilot)
        form = app.screen.query_one("#transactional-form")
        form.query_one("#acknowledge").scroll_visible(animate=False)
        await settle(pilot)

        def drawn(widget) -> str:
            return "".join(widget.render_line(y).text for y in range(widget.size.height))

        label = next(w for w in form.query("Label") if "Type the domain" in str(w.content))
        assert LONG_NAME in drawn(label).replace(" ", "")
        acknowledge = form.query_one("#acknowledge")
        assert acknowledge.region.right <= form.region.right
        assert "will stop working" in drawn(acknowledge)


async def test_home_gives_its_columns_the_whole_width_of_the_screen(world):
    """At 80 columns a domain as long as the screen leaves room for is shown whole: the
    table fits its columns to the screen, not to its own width."""
    app = make_console(world, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#home-table", FittedTable)
        labels = [label for label, _key in table.column_specs]
        natural = natural_widths(labels, table.rows_shown)
        shown = shown_columns(natural, 80 - SCROLLBAR, table.spare)
        room = 80 - SCROLLBAR - total_width([natural[index] for index in shown])
        longest = max(len(cells[0]) for cells, _key in table.rows_shown)
        whole_name = "n" * (longest + room - len(".acme.example")) + ".acme.example"
        rename(world, "news.acme.example", whole_name)
        await pilot.press("r")
        await settle(pilot)
        rows = shown_rows(table)
        assert any(whole_name in row for row in rows), rows


async def test_a_label_cut_for_room_ends_in_an_ellipsis():
    class Narrow(App):
        def compose(self) -> ComposeResult:
            yield FittedTable([("Domain", "domain"), ("Account", "account")])

        def on_mount(self) -> None:
            self.query_one(FittedTable).fill([(["a-long-domain-name.example", "acme"], "d")])

    app = Narrow()
    async with app.run_test(size=(16, 6)) as pilot:
        await settle(pilot)
        table = app.query_one(FittedTable)
        account = table.columns[ColumnKey("account")]
        assert account.width < len("Account")
        header = table.render_line(0).text
        assert "Account"[: account.width - 1] + "…" in header, header
