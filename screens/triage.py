"""Triage: pending requests across all accounts, oldest first; Enter decides one."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Header, Input, Select, Static

from app.errors import MailpoolsError
from app.rules.formatting import plural, short_count
from app.services.triage import TriageItem
from screens.staff_screen import StaffScreen
from widgets.fitted_table import FittedTable
from widgets.key_footer import KeyFooter
from widgets.request_details import RequestDetails, health_word
from widgets.staff_nav import StaffNav
from widgets.text_field import TextField

SEARCH_DELAY_SECONDS = 0.25
QUEUE_REFRESH_SECONDS = 30.0
KIND_OPTIONS = [("Transactional", "transactional"), ("Dedicated", "dedicated")]


class TriageScreen(StaffScreen):
    SECTION = "triage"
    DEFAULT_CSS = """
    TriageScreen #triage-filters { height: 3; }
    TriageScreen #triage-kind { width: 22; }
    TriageScreen #triage-account { width: 22; }
    TriageScreen #triage-search { width: 1fr; }
    TriageScreen #triage-table { height: 1fr; min-height: 4; }
    TriageScreen #triage-status { height: auto; padding: 0 1; }
    TriageScreen #triage-detail-box { height: auto; max-height: 45%; border-top: solid $primary; }
    """
    BINDINGS = [
        Binding("slash", "focus_search", "Search", tooltip="Search by domain", id="search"),
        Binding("escape", "clear_filters", "Clear", show=False, id="clear-filters"),
        Binding(
            "s", "app.suppressions", "Suppressed", tooltip="Every account's suppressed addresses"
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[int, TriageItem] = {}
        self._search_timer: Timer | None = None
        self._accounts_loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield StaffNav(self.SECTION)
        with Horizontal(id="triage-filters"):
            yield Select(KIND_OPTIONS, prompt="Any kind", id="triage-kind")
            yield Select([], prompt="Any account", id="triage-account")
            yield TextField(placeholder="Search by domain  ( / )", id="triage-search")
        yield FittedTable(
            [
                ("#", "id"),
                ("Account", "account"),
                ("Asks for", "asked"),
                ("Domains", "domains"),
                (Text("Sent 7d", justify="right"), "measured"),
                ("Health", "health"),
                ("Filed", "filed"),
            ],
            # What a decision turns on stays whole; names and wording give way first.
            keep_whole=["id", "measured", "health", "filed"],
            id="triage-table",
            cursor_type="row",
            zebra_stripes=True,
        )
        yield Static("Loading the queue…", id="triage-status", classes="hint")
        with VerticalScroll(id="triage-detail-box"):
            yield RequestDetails(id="triage-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        # Owners file requests at any time: keep the queue current without a key press.
        self.set_interval(QUEUE_REFRESH_SECONDS, self.reload)

    def reload(self) -> None:
        kind = self.query_one("#triage-kind", Select).value
        account = self.query_one("#triage-account", Select).value
        self.fetch_queue(
            None if kind is Select.NULL else str(kind),
            None if account is Select.NULL else str(account),
            self.query_one("#triage-search", Input).value,
        )

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="triage", name="reading the queue"
    )
    def fetch_queue(self, kind: str | None, account: str | None, search: str) -> None:
        try:
            accounts = None if self._accounts_loaded else self.agent.account_names()
            items = self.agent.queue(kind=kind, account=account, search=search)
        except MailpoolsError as error:
            self.app.call_from_thread(self.show_error, error.message)
            return
        self.app.call_from_thread(self.show_queue, items, accounts)

    def show_error(self, message: str) -> None:
        self.query_one("#triage-status", Static).update(Text(message, style="bold red"))

    def show_queue(self, items: list[TriageItem], accounts: list[str] | None) -> None:
        if accounts is not None:
            self._accounts_loaded = True
            self.query_one("#triage-account", Select).set_options(
                [(name, name) for name in accounts]
            )
        table = self.query_one(FittedTable)
        highlighted = self.highlighted_id()
        self.items = {item.id: item for item in items}
        table.fill((self.cells(item), str(item.id)) for item in items)
        if highlighted in self.items:
            table.move_cursor(row=table.get_row_index(str(highlighted)))
        filtered = self.filtering()
        if not items:
            status = (
                "No pending request matches these filters."
                if filtered
                else "The queue is empty: nothing waits for review."
            )
        else:
            status = f"{len(items)} pending · oldest first · Enter to decide"
        self.query_one("#triage-status", Static).update(status)
        self.show_detail()

    @staticmethod
    def cells(item: TriageItem) -> list:
        request = item.request
        domains = request.domains[0]
        if len(request.domains) > 1:
            domains += f" +{len(request.domains) - 1}"
        if request.kind == "transactional":
            asked = "transactional"
        else:
            count = request.ip_count or 0
            what = "join group" if request.dedicated_pool else plural(count, "IP")
            asked = f"{what}, {short_count(request.expected_weekly_volume or 0)}/week"
        return [
            str(request.id),
            f"{request.account} ({request.plan})",
            asked,
            domains,
            Text(short_count(item.measured_weekly_volume), justify="right"),
            health_word(item),
            item.age.removeprefix("filed "),
        ]

    def filtering(self) -> bool:
        return (
            self.query_one("#triage-kind", Select).value is not Select.NULL
            or self.query_one("#triage-account", Select).value is not Select.NULL
            or bool(self.query_one("#triage-search", Input).value.strip())
        )

    def highlighted_id(self) -> int | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert key is not None, "every row is keyed by its request's id"
        return int(key)

    def show_detail(self) -> None:
        request_id = self.highlighted_id()
        item = self.items.get(request_id) if request_id is not None else None
        self.query_one(RequestDetails).show(item, empty="Nothing selected.")

    @on(DataTable.RowHighlighted, "#triage-table")
    def row_highlighted(self) -> None:
        self.show_detail()

    @on(DataTable.RowSelected, "#triage-table")
    def decide(self, event: DataTable.RowSelected) -> None:
        from screens.decide_request import DecideRequestScreen

        request_id = event.row_key.value
        assert request_id is not None, "every row is keyed by its request's id"
        self.app.push_screen(DecideRequestScreen(int(request_id)))

    @on(Select.Changed)
    def filter_changed(self) -> None:
        self.reload()

    @on(Input.Changed, "#triage-search")
    def search_changed(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY_SECONDS, self.reload)

    @on(Input.Submitted, "#triage-search")
    def search_submitted(self) -> None:
        self.reload()
        self.query_one(DataTable).focus()

    def action_focus_search(self) -> None:
        self.query_one("#triage-search", Input).focus()

    def action_clear_filters(self) -> None:
        self.query_one("#triage-kind", Select).clear()
        self.query_one("#triage-account", Select).clear()
        self.query_one("#triage-search", Input).value = ""
        self.query_one(DataTable).focus()
        self.reload()
