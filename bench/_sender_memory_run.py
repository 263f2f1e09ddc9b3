"""One sender run for the memory benchmark: send N messages, print peak RSS (KiB) and finished count.

Run as a fresh process so the peak belongs to the sender alone:
python -m bench._sender_memory_run DATABASE_URL SINK_PORT N
"""

from __future__ import annotations

import asyncio
import resource
import sys

from app.sender import SenderOptions, run_sender
from data.db import make_engine


def main(url: str, port: int, count: int) -> None:
    engine = make_engine(url)
    options = SenderOptions(
        relay=("127.0.0.1", port),
        until_empty=True,
        max_messages=count,
        per_ip_concurrency=8,
        total_concurrency=16,
    )
    stats = asyncio.run(run_sender(engine, options))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(peak, stats.finished)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
