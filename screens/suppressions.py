"""Suppressions: the addresses an account's mail no longer goes to, and why.

Receivers put most addresses here (hard bounces, complaints, unsubscribes, soft
bounces in a row); people add one by hand with a reason, and take one off after a
confirmation, so mail to it is sent again. Owners see and change their own
account's list; agents and admins every account's, choosing whose list they change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Header, Input, Select, Static
from textual.worker import Worker

from app.console.agent_backend import AgentBackend
from app.errors import MailpoolsError
from app.rules.formatting import age, one_line
from app.services.outcomes import Outcome
from screens.failures import FailureAware
from widgets.fitted_table import FittedTable
from widgets.key_footer import KeyFooter
from widgets.suppression_form import SuppressionForm
from widgets.text_field import TextField

if TYPE_CHECKING:
    from app.console.app import MailpoolsConsole
    from app.services.suppressions import SuppressionView

FILTER_DELAY_SECONDS = 0.25
REASON_STYLES = {"complaint": "bold red", "hard_bounce": "red", "soft_bounces": "yellow"}


class SuppressionsScreen(FailureAware, Screen):
    app: MailpoolsConsole

    DEFAULT_CSS = """
    SuppressionsScreen #suppressions-title { padding: 0 1; height: 1; text-style: bold; }
    SuppressionsScreen #suppressions-filters { height: auto; padding: 0 1; }
    SuppressionsScreen #suppressions-search { width: 1fr; }
    SuppressionsScreen #suppressions-account { width: 24; margin-left: 1; }
    SuppressionsScreen #suppressions-table { height: 1fr; }
    SuppressionsScreen #suppressions-status { height: auto; padding: 0 1; }
    SuppressionsScreen #suppressions-form { border-top: solid $primary; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("slash", "focus_search", "Filter", tooltip="Filter by address", id="filter"),
        Binding("a", "focus_form", "Add", tooltip="Suppress an address by hand", id="add"),
        Binding("x", "remove", "Remove", tooltip="Take the highlighted address off", id="remove"),
        Binding("y", "confirm_remove", "Confirm", show=False, id="confirm-remove"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[SuppressionView] = []
        self.pending_removal: SuppressionView | None = None
        self.accounts: list[str] | None = None
        self._search_timer: Timer | None = None

    @property
    def for_staff(self) -> bool:
        return self.app.viewer is not None and self.app.viewer.is_staff

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.title_text(), id="suppressions-title")
        with Horizontal(id="suppressions-filters"):
            yield TextField(
                placeholder="Filter by address  ( / )", id="suppressions-search", compact=True
            )
            if self.for_staff:
                yield Select[str](
                    [], prompt="Every account", id="suppressions-account", compact=True
                )
        # Who listed an address is told under the table, for the highlighted row.
        columns = [("Address", "address"), ("Reason", "reason"), ("Listed", "listed")]
        columns.append(("Receiver's words or note", "note"))
        if self.for_staff:
            columns.insert(0, ("Account", "account"))
        yield FittedTable(
            columns,
            # The address is what a person looks for: the other columns give way first.
            cut_first=["note", "reason", "listed"],
            id="suppressions-table",
            cursor_type="row",
            zebra_stripes=True,
        )
        yield Static("Loading…", id="suppressions-status")
        yield SuppressionForm(id="suppressions-form")
        yield KeyFooter()

    def title_text(self) -> str:
        viewer = self.app.viewer
        if self.for_staff or viewer is None:
            return "Suppression lists of every account: addresses mail no longer goes to"
        return f"Suppression list of {viewer.account}: addresses its mail no longer goes to"

    def on_mount(self) -> None:
        self.query_one(FittedTable).focus()
        self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm_remove" and self.pending_removal is None:
            return False
        return True

    @property
    def account_filter(self) -> str | None:
        if not self.for_staff:
            return None
        value = self.query_one("#suppressions-account", Select).value
        return value if isinstance(value, str) else None

    def load(self) -> None:
        self.fetch(self.query_one("#suppressions-search", Input).value, self.account_filter)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="suppressions",
        name="reading the suppression list",
    )
    def fetch(self, search: str, account: str | None) -> None:
        try:
            rows = self.app.backend.suppressions(account=account, search=search)
            accounts = None
            if self.for_staff and self.accounts is None:
                accounts = AgentBackend(self.app.engine, self.app.user_name).account_names()
        except MailpoolsError as error:
            self.app.call_from_thread(self.say, error.message, error=True)
            return
        # Textual types the callback as returning `T | Awaitable[T]`, which mypy cannot
        # solve for a coroutine function; the call itself awaits show as intended.
        self.app.call_from_thread(self.show, rows, accounts)  # type: ignore[arg-type]

    async def show(self, rows: list[SuppressionView], accounts: list[str] | None) -> None:
        if accounts is not None:
            self.accounts = accounts
            self.query_one("#suppressions-account", Select).set_options(
                (name, name) for name in accounts
            )
            await self.query_one(SuppressionForm).choose_accounts(accounts, None)
        self.rows = rows
        self.forget_removal()
        self.query_one(FittedTable).fill((self.cells(row), str(row.id)) for row in rows)
        self.query_one("#suppressions-title", Static).update(
            f"{self.title_text()} ({len(rows):,})" if rows else self.title_text()
        )
        if rows:
            self.describe(0)
        elif self.query_one("#suppressions-search", Input).value:
            self.say("No listed address matches the filter.")
        else:
            self.say("No addresses are suppressed: mail goes to every recipient.")

    def cells(self, row: SuppressionView) -> list[str | Text]:
        cells: list[str | Text] = [row.account] if self.for_staff else []
        return cells + [
            row.address,
            Text(row.reason_words, style=REASON_STYLES.get(row.reason, "")),
            age(row.created_at),
            one_line(row.note, 200),
        ]

    def show_failure(self, worker: Worker, message: str) -> None:
        if worker.group == "suppression-add":
            self.query_one(SuppressionForm).refused(message)
        else:
            self.say(message, error=True)

    def say(self, message: str, *, error: bool = False) -> None:
        self.query_one("#suppressions-status", Static).update(
            Text(message, style="bold red") if error else Text(message)
        )

    @on(DataTable.RowHighlighted, "#suppressions-table")
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.forget_removal()
        self.describe(event.cursor_row)

    def describe(self, index: int) -> None:
        if not 0 <= index < len(self.rows):
            return
        row = self.rows[index]
        told = (
            f"{row.address}: {row.reason_words}, listed by {row.created_by} {age(row.created_at)}"
        )
        if row.message_id:
            told += f" after message {row.message_id}"
        if row.note:
            told += f": {one_line(row.note, 200)}"
        self.say(told + ". x takes it off the list.")

    @on(Input.Changed, "#suppressions-search")
    def search_changed(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(FILTER_DELAY_SECONDS, self.load)

    @on(Input.Submitted, "#suppressions-search")
    def search_submitted(self) -> None:
        self.load()
        self.query_one(FittedTable).focus()

    @on(Select.Changed, "#suppressions-account")
    async def account_chosen(self, event: Select.Changed) -> None:
        # The account looked at is the one an address added next goes to.
        if self.accounts is not None and isinstance(event.value, str):
            await self.query_one(SuppressionForm).choose_accounts(self.accounts, event.value)
        self.load()

    def action_focus_search(self) -> None:
        self.query_one("#suppressions-search", Input).focus()

    def action_focus_form(self) -> None:
        self.query_one("#suppress-address", Input).focus()

    @on(SuppressionForm.Submitted)
    def add_submitted(self, event: SuppressionForm.Submitted) -> None:
        self.add_address(event.address, event.reason, event.account)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="suppression-add",
        name="adding the address",
    )
    def add_address(self, address: str, reason: str, account: str | None) -> None:
        form = self.query_one(SuppressionForm)
        try:
            outcome = self.app.backend.add_suppression(address, reason=reason, account=account)
        except MailpoolsError as error:
            self.app.call_from_thread(form.refused, error.message, error.field)
            return
        self.app.call_from_thread(form.added)
        self.app.call_from_thread(self.changed, outcome)

    def changed(self, outcome: Outcome) -> None:
        self.notify(outcome.summary)
        self.load()

    def highlighted(self) -> SuppressionView | None:
        table = self.query_one(FittedTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def action_remove(self) -> None:
        chosen = self.highlighted()
        if chosen is None:
            return
        self.pending_removal = chosen
        self.refresh_bindings()
        self.say(
            f"Take {chosen.address} off {chosen.account}'s list? Mail to it will be sent "
            "again. Press y to take it off, escape to keep it."
        )

    def forget_removal(self) -> None:
        """No removal waits for y any more: its key leaves the footer."""
        self.pending_removal = None
        self.refresh_bindings()

    def action_confirm_remove(self) -> None:
        chosen = self.pending_removal
        self.forget_removal()
        if chosen is not None:
            self.take_off(chosen.address, chosen.account if self.for_staff else None)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="suppression-remove",
        name="taking the address off the list",
    )
    def take_off(self, address: str, account: str | None) -> None:
        try:
            outcome = self.app.backend.remove_suppression(address, account=account)
        except MailpoolsError as error:
            self.app.call_from_thread(self.say, error.message, error=True)
            return
        self.app.call_from_thread(self.changed, outcome)

    def action_back(self) -> None:
        if self.pending_removal is not None:
            self.forget_removal()
            self.say("Kept on the list.")
            return
        self.app.pop_screen()
