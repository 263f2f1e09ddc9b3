"""Cold start of the console to the first full paint of the home screen, with
10,000 domains and 1,000,000 messages of history, against a minimal Textual app
(a header, a 20-row table, a footer) started the same way. Target: at most 1.5×."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench._console_world import DOMAINS, MESSAGES, NOW, OWNER, ensure_world

ROUNDS = 7
TARGET = 1.5
ROOT = Path(__file__).resolve().parent.parent


def one_start(*arguments: str) -> float:
    """Seconds from launching a fresh Python process to its first painted frame."""
    started = time.time()
    output = subprocess.run(
        [sys.executable, "-m", "bench._console_child", f"{started:.6f}", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, MAILPOOLS_NOW=NOW),
        check=True,
        timeout=120,
    ).stdout
    return float(output.strip().splitlines()[-1])


def run() -> list[str]:
    url = ensure_world()
    # Warm the file cache and bytecode so neither side pays for the first read.
    one_start("minimal")
    one_start("console", url, OWNER)
    minimal, console = [], []
    for _ in range(ROUNDS):
        minimal.append(one_start("minimal"))
        console.append(one_start("console", url, OWNER))
    baseline, measured = statistics.median(minimal), statistics.median(console)
    ratio = measured / baseline
    return [
        f"database: {DOMAINS:,} domains, {MESSAGES:,} messages; medians of {ROUNDS} alternating runs",
        f"minimal app (header, 20-row table, footer): {baseline:.3f} s to first paint",
        f"console home screen:                        {measured:.3f} s to first paint",
        f"ratio {ratio:.2f}x (target at most {TARGET}x): {'met' if ratio <= TARGET else 'NOT met'}",
    ]
