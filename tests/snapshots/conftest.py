"""Snapshots of the console over the demo world, on a fixed clock and theme."""

from __future__ import annotations

import shutil

import pytest

from app import clock
from app.demo.seed import seed_demo
from data.db import make_engine

DEMO_NOW = "2026-11-26T09:00:00"


@pytest.fixture(scope="session")
def demo_template(sqlite_template, tmp_path_factory):
    """The demo world with its month of history, seeded once per test worker."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copyfile(sqlite_template, path)
    with clock.frozen_at(DEMO_NOW):
        engine = make_engine(f"sqlite:///{path}")
        seed_demo(engine)
        engine.dispose()
    return path


@pytest.fixture
def demo_engine(demo_template, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def steady_cursors(monkeypatch):
    """A blinking cursor is drawn or not depending on when the picture is taken:
    keep every cursor shown, so a snapshot never depends on timing."""
    from textual.widgets import Input, TextArea

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None)
