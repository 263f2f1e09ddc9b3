"""The keys, on one screen."""

from __future__ import annotations

from rich import box
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("anywhere", "? or F1", "this help"),
    ("anywhere", "ctrl+p", "command palette: every action of the screen, go to domain, themes"),
    ("anywhere", "i", "notifications inbox"),
    ("anywhere", "h", "back to your domains"),
    ("anywhere", "c", "SMTP submission credentials"),
    ("anywhere", "s", "suppressed addresses: where mail no longer goes"),
    ("anywhere", "ctrl+t", "switch between the dark and light theme"),
    ("anywhere", "q", "quit (not while typing in a field)"),
    ("anywhere", "tab / shift+tab", "next / previous field or control"),
    ("domains", "/", "filter domains by name; escape clears it"),
    ("domains", "[  ]", "previous / next page of domains"),
    ("domains", "enter", "open the highlighted domain"),
    ("a domain", "1 2 3 4", "Overview, Mail Servers, DNS, Activity"),
    ("a domain", "r", "read the domain again (Activity also refreshes itself every few seconds)"),
    ("a domain", "escape", "back"),
    ("DNS", "k", "check the domain's DNS records again now"),
    ("Mail Servers", "← →", "look at another way of sending (or click it)"),
    ("Mail Servers", "ctrl+s", "submit the form you are in"),
    ("inbox", "m", "mark all notifications read"),
    ("inbox", "enter", "open the notification's domain, or choose one"),
    ("credentials", "x  y", "revoke the highlighted credential; y confirms"),
    ("suppressed", "/  a", "filter by address; add an address with a reason"),
    ("suppressed", "x  y", "take the highlighted address off the list; y confirms"),
]
# Shown to support agents and admins only.
STAFF_KEYS = [
    ("support", "1 2 3 4 5", "Triage, Pools, Warm-ups, Flags, Audit"),
    ("support", "ctrl+r", "reload the screen"),
    ("triage", "/  escape", "search by domain; clear the filters"),
    ("triage", "enter", "decide the highlighted request"),
    ("decide", "escape", "cancel the confirmation, or back to the queue"),
    ("pools", "p  u  w", "pause, resume, or weigh the highlighted IP"),
    ("pools", "d  r", "remove (with a reason) or reinstate the highlighted domain"),
    ("warm-ups", "p  u", "pause or resume the highlighted warm-up"),
    ("audit", "/  escape", "filter by domain; clear the filters"),
]
NOTES = (
    "Everything works with the mouse too: click a row, a tab, a button. Rates are "
    "marked and coloured against the limits of the pool the domain sends from: ✓ green "
    "well under, ! yellow near, ✗ red over, ? dim when too few messages were sent to judge."
)


def keys_table(staff: bool = False) -> Table:
    table = Table(box=box.SIMPLE_HEAD, expand=True, title="Keys", title_style="bold")
    table.add_column("Where", style="dim", no_wrap=True)
    table.add_column("Key", style="bold", no_wrap=True)
    table.add_column("What it does")
    for row in KEYS + (STAFF_KEYS if staff else []):
        table.add_row(*row)
    return table


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
            viewer = getattr(self.app, "viewer", None)
            yield Static(keys_table(staff=bool(viewer and viewer.is_staff)), id="help-keys")
            yield Static(NOTES, id="help-notes")

    def action_dismiss_help(self) -> None:
        self.dismiss()
