"""The inbox: requests approved or denied, domains removed, warm-ups complete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker

from app.console.views import NotificationView
from app.errors import MailpoolsError
from app.rules.formatting import age
from screens.failures import FailureAware
from screens.messages import NotificationsArrived

if TYPE_CHECKING:
    from app.console.app import MailpoolsConsole


class NotificationsScreen(FailureAware, Screen):
    app: MailpoolsConsole

    DEFAULT_CSS = """
    NotificationsScreen #inbox-title { padding: 0 1; text-style: bold; }
    NotificationsScreen #inbox { height: 1fr; }
    NotificationsScreen #inbox-detail {
        height: auto; max-height: 8; padding: 0 1; border-top: solid $primary;
    }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding(
            "m",
            "mark_all_read",
            "Mark all read",
            tooltip="Mark every notification read",
            id="mark-read",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.notifications: list[NotificationView] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Notifications — newest first; ● unread", id="inbox-title")
        table: DataTable[str | Text] = DataTable(id="inbox", cursor_type="row", zebra_stripes=True)
        table.add_column(" ", key="read")
        table.add_column("When", key="when")
        table.add_column("What", key="title")
        yield table
        yield Static("Loading…", id="inbox-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load_inbox()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="inbox",
        name="reading your notifications",
    )
    def load_inbox(self) -> None:
        try:
            notifications = self.app.backend.inbox()
        except MailpoolsError as error:
            self.app.call_from_thread(self.query_one("#inbox-detail", Static).update, error.message)
            return
        self.app.call_from_thread(self.show_inbox, notifications)

    def show_failure(self, worker: Worker, message: str) -> None:
        self.query_one("#inbox-detail", Static).update(Text(message, style="bold red"))

    def show_inbox(self, notifications: list[NotificationView]) -> None:
        self.notifications = notifications
        table = self.query_one(DataTable)
        table.clear()
        for notification in notifications:
            style = "" if notification.read else "bold"
            table.add_row(
                Text("" if notification.read else "●", style="bold"),
                age(notification.created_at),
                Text(notification.title, style=style),
                key=str(notification.id),
            )
        if not notifications:
            self.query_one("#inbox-detail", Static).update("No notifications yet.")
        else:
            self.show_detail(0)

    def show_detail(self, index: int) -> None:
        if not self.notifications or not 0 <= index < len(self.notifications):
            return
        notification = self.notifications[index]
        lines = [f"[b]{notification.title}[/b]"]
        if notification.body:
            lines.append(notification.body)
        if notification.domain:
            lines.append(f"[dim]Enter opens {notification.domain}.[/dim]")
        self.query_one("#inbox-detail", Static).update("\n".join(lines))

    @on(DataTable.RowHighlighted, "#inbox")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail(event.cursor_row)

    @on(DataTable.RowSelected, "#inbox")
    def selected(self, event: DataTable.RowSelected) -> None:
        if self.notifications and 0 <= event.cursor_row < len(self.notifications):
            domain = self.notifications[event.cursor_row].domain
            if domain:
                self.app.open_domain(domain, "mail-servers")

    def action_mark_all_read(self) -> None:
        self.mark_read()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="inbox",
        name="marking your notifications read",
    )
    def mark_read(self) -> None:
        try:
            self.app.backend.mark_all_read()
            notifications = self.app.backend.inbox()
        except MailpoolsError as error:
            self.app.call_from_thread(self.app.notify, error.message, severity="error")
            return
        self.app.call_from_thread(self.show_inbox, notifications)
        self.app.call_from_thread(self.app.show_unread, 0)

    def on_notifications_arrived(self, _message: NotificationsArrived) -> None:
        self.load_inbox()

    def action_back(self) -> None:
        self.app.pop_screen()
