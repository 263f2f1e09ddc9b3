"""`mailpools ssh-server`: serve the console to `ssh` clients."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from platformdirs import user_data_dir

from app import settings
from app.cli.common import command, engine


def register(subparsers) -> None:
    server = command(
        subparsers, "ssh-server", _serve, "serve the console over SSH (public-key login)"
    )
    server.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    server.add_argument(
        "--port", type=int, default=2222, help="port (default 2222; 0 picks a free one)"
    )
    server.add_argument(
        "--host-key",
        type=Path,
        default=Path(user_data_dir("mailpools")) / "ssh_host_ed25519_key",
        help="the server's private key; created if missing",
    )


def _serve(args) -> int:
    from app.ssh.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def main() -> None:
        acceptor = await serve(
            engine(), args.host, args.port, args.host_key, configured=settings.current()
        )
        port = acceptor.sockets[0].getsockname()[1]
        print(f"mailpools ssh-server listening on {args.host}:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        acceptor.close()
        await acceptor.wait_closed()

    asyncio.run(main())
    return 0
