"""How a screen hears that one of its workers failed unexpectedly, and says so.

Textual tells a worker's state only to the screen that started it. This mixin
passes an error on to the App (`WorkFailed`), which writes the traceback to the
console's log file and answers with `show_failure` and a sentence for a person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from textual.screen import Screen

    # Type checkers see the Screen this is mixed into; at run time it is a plain
    # mixin, so Textual does not take it for a base with CSS of its own.
    MixinBase = Screen
else:
    MixinBase = object


class WorkFailed(Message):
    """WORKER, started by SCREEN, raised an exception instead of finishing."""

    def __init__(self, screen: FailureAware, worker: Worker) -> None:
        super().__init__()
        self.screen = screen
        self.worker = worker


class FailureAware(MixinBase):
    """Mixed into a screen (before its Screen base, which keeps that base's CSS):
    its workers' failures reach the App, and it leaves any loading state when told
    of one."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.post_message(WorkFailed(self, event.worker))

    def show_failure(self, worker: Worker, message: str) -> None:
        """Say that WORKER failed, and give back the controls it held.

        Screens that show a loading state override this to put MESSAGE there instead.
        """
        self.notify(message, title="Something went wrong", severity="error", timeout=30)
