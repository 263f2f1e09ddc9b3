"""The demo's first screen: choose whom to open the console as."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Header, OptionList, Static
from textual.widgets.option_list import Option

from app.demo.seed import CastMember
from widgets.key_footer import KeyFooter

# Short enough for one line of an 80-column terminal.
ROLE_STORY = {
    "owner": "owner of {account} ({plan} plan): domains and their Mail Servers",
    "agent": "support agent: triage, pools and IPs, warm-ups, flags, audit",
    "admin": "admin: everything a support agent sees",
}


class DemoPickerScreen(Screen[str]):
    """Lists the demo's users; choosing one dismisses the screen with their name."""

    BINDINGS = [Binding("q,escape", "app.quit", "Quit the demo", id="quit-demo")]
    DEFAULT_CSS = """
    DemoPickerScreen > Vertical { padding: 1 2; }
    DemoPickerScreen #intro { margin-bottom: 1; }
    DemoPickerScreen #traffic { color: $text-muted; margin-top: 1; }
    DemoPickerScreen OptionList { height: auto; max-height: 12; }
    """

    def __init__(self, cast: list[CastMember], traffic: Callable[[], str]) -> None:
        super().__init__()
        self.cast = cast
        self.traffic = traffic

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static(
                "A seeded world is live: messages are queued every second and the sender "
                "delivers each one from the IP its route chose to a local SMTP sink.\n"
                "Open the console as:",
                id="intro",
            )
            yield OptionList(
                *(Option(self._label(member), id=member.name) for member in self.cast),
                id="cast",
            )
            yield Static(self.traffic(), id="traffic")
        yield KeyFooter()

    def _label(self, member: CastMember) -> str:
        story = ROLE_STORY.get(member.role, member.role)
        return f"{member.name:<7} {story.format(account=member.account, plan=member.plan)}"

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.set_interval(1.0, self._show_traffic)

    def _show_traffic(self) -> None:
        self.query_one("#traffic", Static).update(self.traffic())

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
