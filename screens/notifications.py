"""The inbox: requests approved or denied, domains removed, warm-ups complete."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker

from app.console.views import NotificationView
from app.errors import MailpoolsError
from app.rules.formatting import age
from screens.domain_choice import DomainChoice
from screens.failures import FailureAware
from screens.messages import NotificationsArrived
from widgets.fitted_table import FittedTable
from widgets.key_footer import KeyFooter

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
        # Notifications being marked read, so a second highlight does not mark one again.
        self.marking: set[int] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Notifications — newest first; ● unread", id="inbox-title")
        # The title is cut (with an ellipsis) only when the screen is too narrow for it;
        # the highlighted notice is shown in full below.
        yield FittedTable(
            [(" ", "read"), ("When", "when"), ("What", "title")],
            id="inbox",
            cursor_type="row",
            zebra_stripes=True,
        )
        yield Static("Loading…", id="inbox-detail")
        yield KeyFooter()

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

    @staticmethod
    def cells(notification: NotificationView) -> list[str | Text]:
        return [
            Text("" if notification.read else "●", style="bold"),
            age(notification.created_at),
            Text(notification.title, style="" if notification.read else "bold"),
        ]

    def show_inbox(self, notifications: list[NotificationView]) -> None:
        """Show NOTIFICATIONS; read again, the cursor and scroll stay where they were."""
        again = self.notifications is not None
        self.notifications = notifications
        table = self.query_one(FittedTable)
        table.fill(((self.cells(n), str(n.id)) for n in notifications), keep_place=again)
        if not notifications:
            self.query_one("#inbox-detail", Static).update("No notifications yet.")
        else:
            self.show_detail(table.cursor_row)

    def show_detail(self, index: int) -> None:
        """Show the notification at INDEX in full; shown, it counts as read."""
        if not self.notifications or not 0 <= index < len(self.notifications):
            return
        notification = self.notifications[index]
        detail = Text.assemble((notification.title, "bold"))
        if notification.body:
            detail.append(f"\n{notification.body}")
        domains = notification.domains
        if len(domains) == 1:
            detail.append(f"\nEnter opens {domains[0]}.", style="dim")
        elif domains:
            detail.append(f"\nEnter offers its domains: {', '.join(domains)}.", style="dim")
        self.query_one("#inbox-detail", Static).update(detail)
        if not notification.read and notification.id not in self.marking:
            self.marking.add(notification.id)
            self.read_notification(notification.id)

    @on(DataTable.RowHighlighted, "#inbox")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail(event.cursor_row)

    @on(DataTable.RowSelected, "#inbox")
    def selected(self, event: DataTable.RowSelected) -> None:
        if not self.notifications or not 0 <= event.cursor_row < len(self.notifications):
            return
        notification = self.notifications[event.cursor_row]
        if len(notification.domains) == 1:
            self.app.open_domain(notification.domains[0], "mail-servers")
        elif notification.domains:
            self.app.push_screen(
                DomainChoice(notification.title, notification.domains), self.domain_chosen
            )

    def domain_chosen(self, domain: str | None) -> None:
        if domain:
            self.app.open_domain(domain, "mail-servers")

    @work(
        thread=True, exit_on_error=False, group="inbox-read", name="marking the notification read"
    )
    def read_notification(self, notification_id: int) -> None:
        try:
            unread = self.app.backend.read_notification(notification_id)
        except MailpoolsError as error:
            self.app.call_from_thread(self.app.notify, error.message, severity="error")
            return
        self.app.call_from_thread(self.shown_read, notification_id, unread)

    def shown_read(self, notification_id: int, unread: int) -> None:
        """Draw the notification as read, and the new unread count in the title."""
        self.app.show_unread(unread)
        if self.notifications is None:
            return
        self.notifications = [
            replace(n, read=True) if n.id == notification_id else n for n in self.notifications
        ]
        shown = next((n for n in self.notifications if n.id == notification_id), None)
        if shown is not None:
            self.query_one(FittedTable).update_row(str(notification_id), self.cells(shown))

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
