"""A one-line text field whose keys apply in the order typed.

Textual inserts a printable key in the field at once, but runs a bound key
(Backspace, ← →, ctrl+u, Tab) only once it has bubbled up to the App. When keys
arrive in one burst, as ssh delivers a fast typist's, the characters typed after
a bound key could land before it ("9", Backspace, "150k" became "9150"). These
fields run a bound key as soon as they receive it.
"""

from __future__ import annotations

from collections.abc import Collection

from textual import events
from textual.widget import Widget
from textual.widgets import Input


async def apply_in_order(field: Widget, event: events.Key, inserts: Collection[str] = ()) -> bool:
    """Handle EVENT in FIELD now, in order: a key that came after focus moved on goes to
    the widget focused since, and a bound key runs its binding here. True if handled;
    printable keys and the key names in INSERTS are left to the field to insert."""
    focused = field.app.focused
    if focused is not None and focused is not field:
        # The App forwarded this key before an earlier one (Tab, say) moved focus on.
        focused.post_message(events.Key(event.key, event.character))
    elif (
        event.is_printable or event.key in inserts or not await field.app._check_bindings(event.key)
    ):
        return False
    event.stop()
    event.prevent_default()
    return True


class TextField(Input):
    async def _on_key(self, event: events.Key) -> None:
        if not await apply_in_order(self, event):
            await super()._on_key(event)
