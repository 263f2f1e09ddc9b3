"""Driving the console with Pilot: waiting for it, and catching the toasts it shows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from textual import events
from textual.keys import _character_to_key
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerState


async def settle(pilot: Pilot, rounds: int = 40) -> None:
    """Let workers finish and their results paint, including workers they start."""
    app = pilot.app
    for _ in range(rounds):
        await _workers_done(app)
        await pilot.pause()
        if not any(worker.is_running for worker in app.workers):
            # Painting a result can start another worker (a table's details, say).
            await pilot.pause()
            if not any(worker.is_running for worker in app.workers):
                return
    raise AssertionError("the console's workers did not settle")


async def _workers_done(app) -> None:
    for worker in list(app.workers):
        if worker.state is WorkerState.PENDING:
            continue  # it starts on the next pause, and the next round waits for it
        # A refresh that a newer one replaced (exclusive workers) is not a failure;
        # `workers.wait_for_complete()` would raise for it.
        with contextlib.suppress(WorkerCancelled):
            await worker.wait()


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Wait until CONDITION() is true while the console runs (its timers and workers too).

    The timeout is wide on purpose: it only bounds a failing test, and a busy
    machine can be slow to get there.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the console never reached the expected state")
        await pilot.pause(0.05)


class Toasts:
    """Every toast the console shows, caught as its Notify message.

    Pass it as `run_test(message_hook=...)`; unlike the toasts on screen, these
    do not time out.
    """

    def __init__(self) -> None:
        self.shown: list[Notification] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.shown.append(message.notification)

    @property
    def titles(self) -> list[str]:
        return [notification.title for notification in self.shown]

    @property
    def messages(self) -> list[str]:
        return [str(notification.message) for notification in self.shown]


def burst(pilot: Pilot, *keys: str) -> None:
    """Hand KEYS to the console all at once, as a terminal delivers a fast typist's keys over
    ssh: no pause between them. A key is one character, or a key name such as "backspace"."""
    for key in keys:
        if len(key) == 1:
            pilot.app.post_message(events.Key(_character_to_key(key), key))
        else:
            pilot.app.post_message(events.Key(key, None))


def burst_text(pilot: Pilot, text: str) -> None:
    """Type TEXT in one burst."""
    burst(pilot, *text)
