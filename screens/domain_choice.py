"""Which domain to open, when a notification covers several (a dedicated group's warm-up,
a request for several domains): Enter opens the highlighted one, Esc goes back."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static


class DomainChoice(ModalScreen[str | None]):
    DEFAULT_CSS = """
    DomainChoice { align: center middle; }
    DomainChoice > Vertical {
        width: 90%;
        max-width: 72;
        height: auto;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    DomainChoice OptionList { height: auto; max-height: 12; margin-top: 1; }
    DomainChoice #choice-keys { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Back", id="cancel-choice")]

    def __init__(self, title: str, domains: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.domains = domains

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Open which domain?"
            yield Static(self.title_text, id="choice-title")
            yield OptionList(*self.domains)
            yield Static("↑ ↓ choose · Enter opens · Esc goes back", id="choice-keys")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.domains[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
