"""A footer that redraws its keys once for a burst of binding changes."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """Textual's Footer rebuilds its keys after every change of bindings, and opening a
    screen changes them several times (mounting, then each move of focus). Here a rebuild
    already waiting takes the later changes too: it reads the bindings when it runs."""

    _rebuild_waiting = False

    def bindings_changed(self, screen: Screen) -> None:
        if self._rebuild_waiting:
            return
        self._rebuild_waiting = True
        super().bindings_changed(screen)

    async def recompose(self) -> None:
        self._rebuild_waiting = False
        await super().recompose()
