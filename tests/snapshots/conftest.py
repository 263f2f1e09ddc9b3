"""Snapshots of the console over the demo world, on a fixed clock and theme."""

from __future__ import annotations

import shutil

import pytest

from app import clock
from app.demo.seed import seed_demo
from data.db import make_engine
from tests.snapshots.worlds import LONG, SHORT, rename_domains

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


@pytest.fixture(scope="session")
def long_demo_template(demo_template, tmp_path_factory):
    """The demo world with every domain under its long name."""
    path = tmp_path_factory.mktemp("long-demo") / "demo.db"
    shutil.copyfile(demo_template, path)
    engine = make_engine(f"sqlite:///{path}")
    rename_domains(engine)
    engine.dispose()
    return path


@pytest.fixture
def world() -> str:
    """Which world a snapshot draws: SHORT, as built, unless a test parametrizes it (VIEWS)."""
    return SHORT


@pytest.fixture
def demo_engine(request, world, tmp_path):
    """A fresh copy of the demo world, under long names in the LONG world."""
    template = request.getfixturevalue("long_demo_template" if world == LONG else "demo_template")
    path = tmp_path / "demo.db"
    shutil.copyfile(template, path)
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
