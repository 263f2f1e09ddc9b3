"""A dialog asking to confirm one change before it is made: Enter confirms, Esc cancels.

The confirming button has the focus when it opens, so Enter confirms and Tab
moves to Cancel; the dialog returns True only when the change was confirmed.
"""

from __future__ import annotations

from rich.console import RenderableType
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmDialog(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical {
        width: 90%;
        max-width: 72;
        height: auto;
        border: round $warning;
        background: $surface;
        padding: 0 1;
    }
    ConfirmDialog #confirm-buttons { height: auto; margin-top: 1; }
    ConfirmDialog Button { margin-right: 1; }
    ConfirmDialog Button:focus { text-style: bold reverse; }
    ConfirmDialog #confirm-keys { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-confirm")]

    def __init__(self, title: str, question: RenderableType, *, confirm_label: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            yield Static(self.question, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button(self.confirm_label, variant="warning", id="confirm-change")
                yield Button("Cancel", id="cancel-change")
            yield Static("Enter chooses the highlighted button · Esc cancels", id="confirm-keys")

    def on_mount(self) -> None:
        self.query_one("#confirm-change", Button).focus()

    @on(Button.Pressed, "#confirm-change")
    def confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel-change")
    def action_cancel(self) -> None:
        self.dismiss(False)
