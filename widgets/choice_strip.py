"""A row of choices on one line: the selected one highlighted, optionally one marked "(now)".

One light widget instead of a tab bar or a set of radio buttons, so the screens
that use it (a domain's tabs, its ways of sending) open quickly. It takes the
keyboard (← → when focused) and the mouse (click a choice).
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

SEPARATOR = "   "


class ChoiceStrip(Widget, can_focus=True):
    DEFAULT_CSS = """
    ChoiceStrip {
        height: 1;
        padding: 0 1;
    }
    ChoiceStrip:focus {
        background: $boost;
    }
    ChoiceStrip.-boxed {
        height: 3;
        border: tall $border-blurred;
    }
    ChoiceStrip.-boxed:focus {
        border: tall $border;
    }
    """
    BINDINGS = [
        Binding("left", "move(-1)", "Previous", show=False),
        Binding("right", "move(1)", "Next", show=False),
    ]

    selected: reactive[str] = reactive("")

    class Chosen(Message):
        def __init__(self, strip: ChoiceStrip, choice: str) -> None:
            super().__init__()
            self.strip = strip
            self.choice = choice

        @property
        def control(self) -> ChoiceStrip:
            return self.strip

    def __init__(
        self,
        choices: list[tuple[str, str]],
        *,
        selected: str,
        current: str | None = None,
        radio: bool = False,
        **kwargs,
    ) -> None:
        """CHOICES are (key, title) pairs; CURRENT is marked "(now)"; RADIO draws ◉/○ marks."""
        super().__init__(**kwargs)
        self.choices = choices
        self.current = current
        self.radio = radio
        self.set_reactive(ChoiceStrip.selected, selected)

    def label(self, key: str, title: str) -> str:
        mark = ("◉ " if key == self.selected else "○ ") if self.radio else ""
        now = " (now)" if key == self.current else ""
        return f"{mark}{title}{now}"

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (key, title) in enumerate(self.choices):
            if index:
                text.append(SEPARATOR)
            text.append(
                self.label(key, title), style="bold reverse" if key == self.selected else ""
            )
        return text

    def choose(self, key: str) -> None:
        if key != self.selected and key in dict(self.choices):
            self.selected = key
            self.post_message(self.Chosen(self, key))

    def action_move(self, step: int) -> None:
        keys = [key for key, _title in self.choices]
        self.choose(keys[(keys.index(self.selected) + step) % len(keys)])

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        start = 0
        for key, title in self.choices:
            end = start + len(self.label(key, title))
            if start <= offset.x < end + len(SEPARATOR) // 2:
                self.choose(key)
                return
            start = end + len(SEPARATOR)
