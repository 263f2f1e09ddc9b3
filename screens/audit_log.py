"""Audit: every event, newest first, filtered by account, domain, user and kind."""

from __future__ import annotations

import json

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Header, Input, Select, Static

from app.console.agent_backend import AuditFilters
from app.errors import MailpoolsError
from app.rules.formatting import table_time
from app.services.audit import AuditView
from app.services.audit_log import DEFAULT_LIMIT, MESSAGE_KINDS
from screens.staff_screen import StaffScreen
from widgets.fitted_table import FittedTable
from widgets.key_footer import KeyFooter
from widgets.staff_nav import StaffNav
from widgets.text_field import TextField

SEARCH_DELAY_SECONDS = 0.25
# The kind filter's values beside the kinds themselves: everything, or all but one kind.
EVERY_KIND = "*"
ALL_BUT = "-"


def kind_options(kinds: list[str]) -> list[tuple[str, str]]:
    """Each kind to show alone, every kind messages included, and each family to leave out."""
    families = [kind for kind in kinds if "." not in kind]
    return [
        ("Every kind, messages too", EVERY_KIND),
        *[(kind, kind) for kind in kinds],
        *[(f"All but {family}", f"{ALL_BUT}{family}") for family in families],
    ]


def kind_filter(choice: str | None) -> tuple[str | None, tuple[str, ...]]:
    """The kind to show and the kinds to leave out for CHOICE; by default, all but messages."""
    if choice is None:
        return None, MESSAGE_KINDS
    if choice == EVERY_KIND:
        return None, ()
    if choice.startswith(ALL_BUT):
        return None, (*MESSAGE_KINDS, choice.removeprefix(ALL_BUT))
    return choice, ()


def describe_state(state: dict | None) -> str:
    if not state:
        return "—"
    return json.dumps(state, sort_keys=True, ensure_ascii=False)


class AuditLogScreen(StaffScreen):
    SECTION = "audit"
    DEFAULT_CSS = """
    AuditLogScreen #audit-filters { height: 3; }
    AuditLogScreen #audit-filters Select { width: 1fr; }
    AuditLogScreen #audit-domain { width: 1fr; }
    AuditLogScreen #audit-table { height: 1fr; min-height: 4; }
    AuditLogScreen #audit-status { height: auto; padding: 0 1; }
    AuditLogScreen #audit-detail-box { height: auto; max-height: 35%; border-top: solid $primary; }
    AuditLogScreen #audit-detail { padding: 0 1; }
    """
    BINDINGS = [
        Binding(
            "slash",
            "focus_domain",
            "Domain filter",
            tooltip="Filter by domain",
            id="audit-domain-filter",
        ),
        Binding("escape", "clear_filters", "Clear", show=False, id="audit-clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[int, AuditView] = {}
        self._filters_loaded = False
        self._domain_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield StaffNav(self.SECTION)
        with Horizontal(id="audit-filters"):
            yield Select([], prompt="Any account", id="audit-account")
            yield Select([], prompt="Any user", id="audit-user")
            yield Select([], prompt="Any kind but messages", id="audit-kind")
            yield TextField(placeholder="Domain  ( / )", id="audit-domain")
        yield FittedTable(
            [
                ("When", "at"),
                ("Who", "actor"),
                ("What", "action"),
                ("On", "entity"),
                ("Account", "account"),
            ],
            id="audit-table",
            cursor_type="row",
            zebra_stripes=True,
        )
        yield Static("Loading events…", id="audit-status", classes="hint")
        with VerticalScroll(id="audit-detail-box"):
            yield Static("", id="audit-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

    def selected_filter(self, selector: str) -> str | None:
        value = self.query_one(selector, Select).value
        return None if value is Select.NULL else str(value)

    def reload(self) -> None:
        kind, exclude = kind_filter(self.selected_filter("#audit-kind"))
        self.fetch_events(
            self.selected_filter("#audit-account"),
            self.query_one("#audit-domain", Input).value,
            self.selected_filter("#audit-user"),
            kind,
            exclude,
        )

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="audit",
        name="reading the audit log",
    )
    def fetch_events(
        self,
        account: str | None,
        domain: str,
        user: str | None,
        kind: str | None,
        exclude: tuple[str, ...],
    ) -> None:
        try:
            filters = None if self._filters_loaded else self.agent.audit_filters()
            events = self.agent.audit_events(
                account=account, domain=domain, user=user, kind=kind, exclude=exclude
            )
        except MailpoolsError as error:
            self.app.call_from_thread(self.show_error, error.message)
            return
        self.app.call_from_thread(self.show_events, events, filters)

    def show_error(self, message: str) -> None:
        self.query_one("#audit-status", Static).update(Text(message, style="bold red"))
        self.query_one(DataTable).clear()
        self.events = {}
        self.show_detail()

    def show_events(self, events: list[AuditView], filters: AuditFilters | None) -> None:
        if filters is not None:
            self._filters_loaded = True
            for selector, names in (
                ("#audit-account", filters.accounts),
                ("#audit-user", filters.actors),
            ):
                self.query_one(selector, Select).set_options([(name, name) for name in names])
            self.query_one("#audit-kind", Select).set_options(kind_options(filters.kinds))
        self.events = {event.id: event for event in events}
        self.query_one(FittedTable).fill(
            (
                [
                    table_time(event.at),
                    event.actor,
                    event.action,
                    event.domain or f"{event.entity} {event.entity_id}",
                    event.account or "—",
                ],
                str(event.id),
            )
            for event in events
        )
        if not events:
            status = "No event matches these filters."
        elif len(events) >= DEFAULT_LIMIT:
            status = f"The newest {len(events)} events; narrow the filters to see older ones."
        else:
            status = f"{len(events)} events, newest first"
        self.query_one("#audit-status", Static).update(status)
        self.show_detail()

    @on(DataTable.RowHighlighted, "#audit-table")
    def show_detail(self) -> None:
        table = self.query_one(DataTable)
        detail = self.query_one("#audit-detail", Static)
        if table.row_count == 0:
            detail.update("")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert key is not None, "every row is keyed by its event's id"
        event = self.events.get(int(key))
        if event is None:
            return
        text = Text.assemble(
            (f"{event.action}", "bold"),
            f" by {event.actor} at {event.at:%Y-%m-%d %H:%M:%S} UTC on {event.entity} {event.entity_id}\n",
            ("before: ", "bold"),
            describe_state(event.before),
            "\n",
            ("after:  ", "bold"),
            describe_state(event.after),
        )
        detail.update(text)

    @on(Select.Changed)
    def filter_changed(self) -> None:
        self.reload()

    @on(Input.Changed, "#audit-domain")
    def domain_changed(self) -> None:
        if self._domain_timer is not None:
            self._domain_timer.stop()
        self._domain_timer = self.set_timer(SEARCH_DELAY_SECONDS, self.reload)

    @on(Input.Submitted, "#audit-domain")
    def domain_submitted(self) -> None:
        self.reload()
        self.query_one(DataTable).focus()

    def action_focus_domain(self) -> None:
        self.query_one("#audit-domain", Input).focus()

    def action_clear_filters(self) -> None:
        for selector in ("#audit-account", "#audit-user", "#audit-kind"):
            self.query_one(selector, Select).clear()
        self.query_one("#audit-domain", Input).value = ""
        self.query_one(DataTable).focus()
        self.reload()
