"""The inbound benchmark's baseline: a bare aiosmtpd server on plain SMTP that only counts.

`python -m bench._plain_counting_server` prints its port, then on SIGTERM the number
of messages it received.
"""

from __future__ import annotations

import asyncio
import signal

from aiosmtpd.smtp import SMTP

from bench._counting_server import CountingHandler


async def main() -> None:
    handler = CountingHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="127.0.0.1", loop=loop), host="127.0.0.1", port=0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    print(handler.received, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
