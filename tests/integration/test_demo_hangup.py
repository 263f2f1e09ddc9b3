"""`make demo` in a terminal that closes: nothing of the demo is left running."""

from __future__ import annotations

import os
import pty
import shutil
import signal
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _descendants(pid: int) -> set[int]:
    """PID's children, their children and so on, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    waiting = [pid]
    while waiting:
        for child in children.get(waiting.pop(), []):
            found.add(child)
            waiting.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_closing_the_terminal_ends_the_demo_and_its_sender(tmp_path):
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("MAILPOOLS_")},
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "TERM": "xterm-256color",
    }
    make, terminal = pty.fork()
    if make == 0:
        os.chdir(ROOT)
        os.execvpe("make", ["make", "--no-print-directory", "demo"], environment)
    screen = b""
    deadline = time.monotonic() + 120
    # Wait until the demo is up with its sender: the picker is on screen.
    while b"Open the console as" not in screen:
        assert time.monotonic() < deadline, screen[-2000:]
        try:
            screen += os.read(terminal, 65536)
        except OSError:
            break
    demo_processes = _descendants(make)
    assert len(demo_processes) >= 2, "the demo and its sender should both be running"

    os.close(terminal)  # the terminal window closes

    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in demo_processes | {make}):
        if time.monotonic() > deadline:
            for pid in demo_processes:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
            raise AssertionError("the demo kept running after its terminal closed")
        time.sleep(0.2)
        try:
            os.waitpid(make, os.WNOHANG)
        except ChildProcessError:
            pass
