"""A text area whose keys apply in the order typed (see `widgets.text_field`)."""

from __future__ import annotations

from textual import events
from textual.widgets import TextArea

from widgets.text_field import apply_in_order


class TextBox(TextArea):
    async def _on_key(self, event: events.Key) -> None:
        inserts = ("enter", "tab") if self.tab_behavior == "indent" else ("enter",)
        if not await apply_in_order(self, event, inserts):
            await super()._on_key(event)
