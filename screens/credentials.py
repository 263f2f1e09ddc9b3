"""Credentials: the account's SMTP submission logins, each for one kind of message.

Owners create one per stream (the secret is shown here once, never again) and
revoke them; agents and admins see every account's, read-only and without secrets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, DataTable, Header, Static
from textual.worker import Worker

from app.errors import MailpoolsError
from app.rules.formatting import age
from app.services.credentials import CredentialView, NewCredential
from app.services.outcomes import Outcome
from screens.failures import FailureAware
from widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from app.console.app import MailpoolsConsole

KINDS = ("transactional", "campaign", "broadcast")


class CredentialsScreen(FailureAware, Screen):
    app: MailpoolsConsole

    DEFAULT_CSS = """
    CredentialsScreen #credentials-title { padding: 0 1; text-style: bold; }
    CredentialsScreen #credentials-table { height: 1fr; }
    CredentialsScreen #credentials-create { height: auto; padding: 0 1; }
    CredentialsScreen #credentials-create Button { margin-right: 1; }
    CredentialsScreen #credentials-status { height: auto; padding: 0 1; }
    CredentialsScreen #credentials-secret {
        height: auto; padding: 0 1; border: round $warning; display: none;
    }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("x", "revoke", "Revoke", tooltip="Revoke the highlighted credential", id="revoke"),
        Binding("y", "confirm_revoke", "Confirm", show=False, id="confirm-revoke"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[CredentialView] = []
        self.pending_revoke: CredentialView | None = None

    @property
    def read_only(self) -> bool:
        return self.app.viewer is None or self.app.viewer.is_staff

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.title_text(), id="credentials-title")
        table: DataTable[str | Text] = DataTable(
            id="credentials-table", cursor_type="row", zebra_stripes=True
        )
        if self.read_only:
            table.add_column("Account", key="account", width=10)
        table.add_column("Kind", key="kind", width=13)
        table.add_column("Username", key="username", width=27)
        table.add_column("Created", key="created", width=12)
        table.add_column("State", key="state", width=18)
        yield table
        yield Static("", id="credentials-secret")
        if not self.read_only:
            with Horizontal(id="credentials-create"):
                for kind in KINDS:
                    yield Button(f"New {kind}", id=f"create-{kind}", compact=True)
        yield Static("Loading…", id="credentials-status")
        yield KeyFooter()

    def title_text(self) -> str:
        if self.read_only:
            return "SMTP submission credentials of every account; secrets are never shown"
        return "SMTP submission credentials"

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load_credentials()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("revoke", "confirm_revoke") and self.read_only:
            return False
        return True

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="credentials",
        name="reading the credentials",
    )
    def load_credentials(self) -> None:
        try:
            rows = self.app.backend.credentials()
        except MailpoolsError as error:
            self.app.call_from_thread(self.say, error.message, error=True)
            return
        self.app.call_from_thread(self.show_credentials, rows)

    def show_failure(self, worker: Worker, message: str) -> None:
        self.refused(message)

    def refused(self, message: str) -> None:
        """Say why, and give the buttons back."""
        self.say(message, error=True)
        for button in self.query(Button):
            button.disabled = False

    def say(self, message: str, *, error: bool = False) -> None:
        self.query_one("#credentials-status", Static).update(
            Text(message, style="bold red") if error else message
        )

    def show_credentials(self, rows: list[CredentialView]) -> None:
        self.rows = rows
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            state = (
                Text(f"revoked {age(row.revoked_at)}", style="dim")
                if row.revoked_at
                else Text("active", style="green")
            )
            cells: list[str | Text] = [row.account] if self.read_only else []
            cells += [row.kind, row.username, age(row.created_at), state]
            table.add_row(*cells, key=str(row.id))
        active = sum(1 for row in rows if row.active)
        self.query_one("#credentials-title", Static).update(
            f"{self.title_text()} ({len(rows)}, {active} active)" if rows else self.title_text()
        )
        if not rows:
            self.say(
                "No credentials yet."
                if self.read_only
                else "No credentials yet: create one for each kind of message you send."
            )
        else:
            self.describe(table.cursor_row)

    @on(DataTable.RowHighlighted, "#credentials-table")
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.pending_revoke = None
        self.describe(event.cursor_row)

    def describe(self, index: int) -> None:
        if not 0 <= index < len(self.rows):
            return
        row = self.rows[index]
        told = f"{row.username}: created by {row.created_by} {age(row.created_at)}"
        if row.revoked_at:
            told += f"; revoked by {row.revoked_by} {age(row.revoked_at)}."
        elif not self.read_only:
            told += ". x revokes it."
        self.say(told)

    @on(Button.Pressed, "#credentials-create Button")
    def create_pressed(self, event: Button.Pressed) -> None:
        kind = (event.button.id or "").removeprefix("create-")
        for button in self.query(Button):
            button.disabled = True
        self.create(kind)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="credential-change",
        name="creating the credential",
    )
    def create(self, kind: str) -> None:
        try:
            outcome = self.app.backend.create_credential(kind)
        except MailpoolsError as error:
            self.app.call_from_thread(self.refused, error.message)
            return
        self.app.call_from_thread(self.created, outcome)

    def created(self, outcome: Outcome[NewCredential]) -> None:
        new = outcome.subject
        secret = self.query_one("#credentials-secret", Static)
        secret.update(
            f"[b]username[/b]  {new.credential.username}\n"
            f"[b]secret[/b]    {new.secret}\n"
            "Copy the secret now: it is stored only as a hash and is never shown again."
        )
        secret.display = True
        for button in self.query(Button):
            button.disabled = False
        self.notify(outcome.summary)
        self.load_credentials()

    def highlighted(self) -> CredentialView | None:
        table = self.query_one(DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def action_revoke(self) -> None:
        chosen = self.highlighted()
        if chosen is None:
            return
        if not chosen.active:
            self.say(f"{chosen.username} is already revoked.")
            return
        self.pending_revoke = chosen
        self.say(
            f"Revoke {chosen.username}? Clients using it can no longer log in. "
            "Press y to revoke, escape to keep it."
        )

    def action_confirm_revoke(self) -> None:
        chosen, self.pending_revoke = self.pending_revoke, None
        if chosen is not None:
            self.revoke(chosen.id)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="credential-change",
        name="revoking the credential",
    )
    def revoke(self, credential_id: int) -> None:
        try:
            outcome = self.app.backend.revoke_credential(credential_id)
        except MailpoolsError as error:
            self.app.call_from_thread(self.say, error.message, error=True)
            return
        self.app.call_from_thread(self.notify, outcome.summary)
        self.app.call_from_thread(self.load_credentials)

    def action_back(self) -> None:
        if self.pending_revoke is not None:
            self.pending_revoke = None
            self.say("Kept.")
            return
        self.app.pop_screen()
