"""What support staff see until their triage screen is installed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from app.console.views import Viewer


class StaffPlaceholderScreen(Screen):
    def __init__(self, viewer: Viewer) -> None:
        super().__init__()
        self.viewer = viewer

    def compose(self) -> ComposeResult:
        yield Header()
        with Center():
            yield Static(
                f"Signed in as {self.viewer.name} ({self.viewer.role}).\n\n"
                "The request triage screen is not installed in this build. Review requests "
                "from the command line meanwhile: mailpools requests list --status pending.",
                id="staff-placeholder",
                classes="loading-note",
            )
        yield Footer()
