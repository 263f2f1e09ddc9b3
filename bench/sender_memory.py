"""Peak memory of the sender with 1,000,000 queued messages against 1,000 queued.

Each run is a fresh process (bench._sender_memory_run) that sends the same
1,000 messages to a sink and reports its peak resident memory; only the queue
behind them differs. The sender claims in batches and never reads the whole
queue, so the peak must not grow with the queue. Target: at most 1.2x.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench._sending_setup import ROOT, seeded_database, sink_process

SMALL = 1_000
LARGE = int(os.environ.get("MAILPOOLS_BENCH_LARGE_QUEUE", "1000000"))
SENT_PER_RUN = 1_000


def _peak_kib(url: str, port: int) -> tuple[int, int]:
    result = subprocess.run(
        [sys.executable, "-m", "bench._sender_memory_run", url, str(port), str(SENT_PER_RUN)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    peak, finished = result.stdout.split()
    return int(peak), int(finished)


def run() -> list[str]:
    lines = []
    peaks = {}
    with sink_process() as port:
        for queued in (SMALL, LARGE):
            started = time.perf_counter()
            with seeded_database(queued) as (url, _):
                seeded = time.perf_counter() - started
                peaks[queued], finished = _peak_kib(url, port)
            lines.append(
                f"{queued:>9,} queued: peak {peaks[queued] / 1024:,.1f} MiB while finishing "
                f"{finished:,} messages (queue built in {seeded:.0f}s)"
            )
    ratio = peaks[LARGE] / peaks[SMALL]
    verdict = "meets" if ratio <= 1.2 else "misses"
    lines.append(f"ratio {LARGE:,} / {SMALL:,} queued: {ratio:.2f} ({verdict} the 1.2 target)")
    return lines
