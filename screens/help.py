"""The keys, on one screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

KEYS = """\
# Keys

| Where | Key | What it does |
| --- | --- | --- |
| anywhere | `?` or `F1` | this help |
| anywhere | `ctrl+p` | command palette: *go to domain*, themes, quit |
| anywhere | `i` | notifications inbox |
| anywhere | `h` | back to your domains |
| anywhere | `ctrl+t` | switch between the dark and light theme |
| anywhere | `q` | quit (not while typing in a field) |
| anywhere | `tab` / `shift+tab` | next / previous field or control |
| domains | `/` | filter domains by name; `escape` clears it |
| domains | `[` `]` | previous / next page of domains |
| domains | `enter` | open the highlighted domain |
| a domain | `1`–`4` | Overview, Mail Servers, DNS, Activity |
| a domain | `escape` | back |
| Mail Servers | `ctrl+s` | submit the form you are in |
| inbox | `m` | mark all notifications read |
| inbox | `enter` | open the notification's domain |

Everything works with the mouse too: click a row, a tab, a button.
Rates are coloured against the limits of the pool the domain sends from:
green well under, yellow near, red over, dim when too few messages were sent to judge.
"""


class HelpScreen(ModalScreen):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 96;
        height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss_help", "Close", id="close-help"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(KEYS, id="help-keys")

    def action_dismiss_help(self) -> None:
        self.dismiss()
