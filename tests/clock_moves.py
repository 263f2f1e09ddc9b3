"""The test clock: every test stands on TEST_NOW, and may move the clock for the rest of it.

A move fixes the clock in this process and sets MAILPOOLS_NOW for the processes the
test starts (and for the command line's `main`, which reads its settings at each
call), so both always agree; both go back when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime

import pytest

from app import clock

TEST_NOW = "2026-11-26T09:00:00"

_stack: ExitStack | None = None
_monkeypatch: pytest.MonkeyPatch | None = None


@contextmanager
def standing_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    global _stack, _monkeypatch
    with ExitStack() as stack:
        _stack, _monkeypatch = stack, monkeypatch
        try:
            move_clock(TEST_NOW)
            yield
        finally:
            _stack = _monkeypatch = None


def move_clock(moment: datetime | str) -> datetime:
    """Stand the rest of this test, and the processes it starts, on MOMENT."""
    assert _stack is not None and _monkeypatch is not None, "only inside a test"
    fixed = _stack.enter_context(clock.frozen_at(moment))
    _monkeypatch.setenv("MAILPOOLS_NOW", fixed.isoformat())
    return fixed


def let_clock_run() -> None:
    """The real time for the rest of this test, here and in the processes it starts."""
    assert _stack is not None and _monkeypatch is not None, "only inside a test"
    _stack.enter_context(clock.running())
    _monkeypatch.delenv("MAILPOOLS_NOW", raising=False)
