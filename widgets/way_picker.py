"""The choice of three ways of sending, on one line: the shown one highlighted, the current one marked.

One light widget rather than a set of radio buttons, so the Mail Servers tab
opens quickly; it takes the keyboard (← →) and the mouse.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

SEPARATOR = "   "


class WayPicker(Widget, can_focus=True):
    DEFAULT_CSS = """
    WayPicker {
        height: 3;
        border: tall $border-blurred;
        padding: 0 1;
    }
    WayPicker:focus {
        border: tall $border;
    }
    """
    BINDINGS = [
        Binding("left", "move(-1)", "Previous way", show=False),
        Binding("right", "move(1)", "Next way", show=False),
    ]

    shown: reactive[str] = reactive("")

    class Chosen(Message):
        def __init__(self, picker: WayPicker, way: str) -> None:
            super().__init__()
            self.picker = picker
            self.way = way

        @property
        def control(self) -> WayPicker:
            return self.picker

    def __init__(self, ways: list[tuple[str, str]], *, current: str, shown: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ways = ways
        self.current = current
        self.set_reactive(WayPicker.shown, shown)

    def label(self, key: str, title: str) -> str:
        mark = "◉" if key == self.shown else "○"
        now = " (now)" if key == self.current else ""
        return f"{mark} {title}{now}"

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (key, title) in enumerate(self.ways):
            if index:
                text.append(SEPARATOR)
            style = "bold reverse" if key == self.shown else ""
            text.append(self.label(key, title), style=style)
        return text

    def choose(self, key: str) -> None:
        if key != self.shown and key in dict(self.ways):
            self.shown = key
            self.post_message(self.Chosen(self, key))

    def action_move(self, step: int) -> None:
        keys = [key for key, _title in self.ways]
        self.choose(keys[(keys.index(self.shown) + step) % len(keys)])

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        x = offset.x
        start = 0
        for key, title in self.ways:
            end = start + len(self.label(key, title))
            if start <= x < end + len(SEPARATOR) // 2:
                self.choose(key)
                return
            start = end + len(SEPARATOR)
