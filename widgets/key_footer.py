"""A footer that rebuilds its keys only when the keys it shows change."""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeyFooter(Footer):
    """Textual's Footer rebuilds its keys after every change of bindings, and opening a
    screen changes them several times (mounting, then each move of focus), most of them
    leaving the shown keys as they were. Here a rebuild already waiting takes the later
    changes too, and a rebuild that would draw the same keys again is skipped: each
    rebuild mounts and styles every key anew, the dearest part of opening a screen.
    A screen under another one waits: its keys are read again when it is on top."""

    _rebuild_waiting = False
    _keys_shown: Hashable = None

    def bindings_changed(self, screen: Screen) -> None:
        if self._rebuild_waiting or not screen.is_active:
            return
        self._rebuild_waiting = True
        super().bindings_changed(screen)

    def keys_to_show(self) -> Hashable:
        """What the footer's compose reads from the bindings, as one comparable value."""
        palette = self.app.COMMAND_PALETTE_BINDING
        return self.show_command_palette, tuple(
            (binding.key, binding.action, binding.description, binding.group, enabled, tooltip)
            for _node, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show or binding.key == palette
        )

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                # Born with the footer's style: a key otherwise starts compact and is
                # styled again when its binding to the footer's style arrives. (The
                # palette's key is not bound to it, and stays compact.)
                widget.set_reactive(FooterKey.compact, self.compact)
                widget.set_class(self.compact, "-compact")
            yield widget

    async def recompose(self) -> None:
        self._rebuild_waiting = False
        if not self.screen.is_active:
            return
        keys = self.keys_to_show()
        if keys == self._keys_shown:
            return
        self._keys_shown = keys
        await super().recompose()
