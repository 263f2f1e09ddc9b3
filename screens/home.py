"""Home: the account's sending domains, a page at a time.

A page is one grouped read of the daily stats, so the screen paints as fast
with ten thousand domains as with ten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Header, Input, Static
from textual.worker import Worker

from app.console.views import HomePage, warmup_label
from app.errors import MailpoolsError
from app.rules.formatting import short_count
from app.services.domains import DomainSummary
from screens.failures import FailureAware
from screens.messages import NotificationsArrived
from widgets.fitted_table import FittedTable
from widgets.key_footer import KeyFooter
from widgets.rate_gauge import rate_cell, rate_legend
from widgets.text_field import TextField

if TYPE_CHECKING:
    from app.console.app import MailpoolsConsole

MODE_LABELS = {"shared": "shared", "transactional": "transact.", "dedicated": "dedicated"}
FILTER_DELAY_SECONDS = 0.25


class HomeScreen(FailureAware, Screen):
    """The owner's domains: way of sending, pool, status, volume, rates, warm-up."""

    app: MailpoolsConsole

    DEFAULT_CSS = """
    HomeScreen #home-filter { margin: 0 1; }
    HomeScreen #home-table { height: 1fr; }
    HomeScreen #home-pager { padding: 0 1; height: auto; }
    HomeScreen #home-legend { padding: 0 1; height: auto; }
    """
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", tooltip="Filter domains by name", id="filter"),
        Binding("right_square_bracket", "next_page", "Next", tooltip="Next page", id="next-page"),
        Binding(
            "left_square_bracket",
            "previous_page",
            "Prev",
            tooltip="Previous page",
            id="previous-page",
        ),
        Binding("s", "app.suppressions", "Suppressed", tooltip="Addresses mail no longer goes to"),
        Binding("r", "reload", "Reload", show=False, id="reload"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, first_page: HomePage | None = None) -> None:
        super().__init__()
        self.first_page = first_page
        self.page: HomePage | None = None
        self.page_offset = 0
        self.resumed_before = False
        self._filter_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield TextField(placeholder="Filter domains by name  ( / )", id="home-filter")
        # What matters most comes first, so 80 columns show it without scrolling.
        yield FittedTable(
            [
                ("Domain", "domain"),
                ("Sending", "mode"),
                ("Status", "status"),
                (Text("7d vol", justify="right"), "volume"),
                (Text("Bounce", justify="right"), "bounce"),
                (Text("Compl.", justify="right"), "complaint"),
                ("In progress", "progress"),
                ("Pool", "pool"),
            ],
            # On a narrow screen the pool (named on the domain's own screen) leaves first;
            # the domain's name gives way before a warm-up's day or a request's kind.
            spare=["pool"],
            keep_whole=["progress"],
            id="home-table",
            cursor_type="row",
            zebra_stripes=True,
        )
        yield Static("Loading your domains…", id="home-pager")
        yield Static(rate_legend("Rates against limits:"), id="home-legend")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        if self.first_page is not None:
            self.show_page(self.first_page)
        else:
            self.load_page()

    def load_page(self) -> None:
        self.fetch_page(self.page_offset, self.query_one(Input).value)

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="home", name="reading your domains"
    )
    def fetch_page(self, offset: int, filter_text: str) -> None:
        try:
            page = self.app.backend.home_page(offset=offset, filter_text=filter_text)
        except MailpoolsError as error:
            self.app.call_from_thread(self.show_error, error.message)
            return
        self.app.call_from_thread(self.show_page, page)

    def show_error(self, message: str) -> None:
        self.query_one("#home-pager", Static).update(Text(message, style="bold red"))

    def show_failure(self, worker: Worker, message: str) -> None:
        self.show_error(message)

    def show_page(self, page: HomePage) -> None:
        self.query_one(FittedTable).fill((self.cells(row), row.name) for row in page.rows)
        self.page = page
        self.page_offset = page.offset
        if page.total == 0:
            message = (
                f"No domain matches {page.filter_text!r}."
                if page.filter_text
                else "This account has no sending domains yet."
            )
        else:
            message = f"Domains {page.first:,}–{page.last:,} of {page.total:,}"
            if page.total > page.limit:
                message += "   [ ] previous / next page"
            message += "   Enter opens a domain"
        self.query_one("#home-pager", Static).update(message)

    @staticmethod
    def cells(row: DomainSummary) -> list:
        status = Text(row.status, style="bold red" if row.status == "removed" else "")
        pending = (
            f"asks {MODE_LABELS.get(row.pending_request, row.pending_request)}"
            if row.pending_request
            else None
        )
        progress = warmup_label(row.warmup) or pending or ""
        return [
            row.name,
            MODE_LABELS.get(row.sending_mode, row.sending_mode),
            status,
            Text(short_count(row.volume_7d), justify="right"),
            rate_cell(row.rates_7d.bounce),
            rate_cell(row.rates_7d.complaint),
            progress,
            row.pool or "—",
        ]

    @on(DataTable.RowSelected, "#home-table")
    def open_domain(self, event: DataTable.RowSelected) -> None:
        self.app.open_domain(str(event.row_key.value))

    @on(Input.Changed, "#home-filter")
    def filter_changed(self) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY_SECONDS, self.apply_filter)

    @on(Input.Submitted, "#home-filter")
    def filter_submitted(self) -> None:
        self.apply_filter()
        self.query_one(DataTable).focus()

    def apply_filter(self) -> None:
        self.page_offset = 0
        self.load_page()

    def action_focus_filter(self) -> None:
        self.query_one(Input).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one(Input)
        if field.value:
            field.value = ""
            self.apply_filter()
        self.query_one(DataTable).focus()

    def action_next_page(self) -> None:
        if self.page and self.page.offset + self.page.limit < self.page.total:
            self.page_offset = self.page.offset + self.page.limit
            self.load_page()

    def action_previous_page(self) -> None:
        if self.page and self.page.offset > 0:
            self.page_offset = max(0, self.page.offset - self.page.limit)
            self.load_page()

    def action_reload(self) -> None:
        self.load_page()

    def on_screen_resume(self) -> None:
        # Back from a domain: a request may have been filed there. (The first
        # resume is the screen's first showing; its page is fresh.)
        if self.resumed_before:
            self.load_page()
        self.resumed_before = True

    def on_notifications_arrived(self, _message: NotificationsArrived) -> None:
        self.load_page()
