"""Messages the console's screens receive from the App."""

from __future__ import annotations

from textual.message import Message

from app.console.views import NotificationView


class NotificationsArrived(Message):
    """New notifications came in while the console was open."""

    def __init__(self, notifications: list[NotificationView]) -> None:
        super().__init__()
        self.notifications = notifications
