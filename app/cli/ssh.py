"""`mailpools ssh-server`: serve the console to `ssh` clients."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from platformdirs import user_data_dir

from app import settings
from app.cli.arguments import whole_number
from app.cli.common import command, engine, serve_until_signalled
from app.errors import MailpoolsError


def register(subparsers) -> None:
    server = command(
        subparsers, "ssh-server", _serve, "serve the console over SSH (public-key login)"
    )
    server.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    server.add_argument(
        "--port", type=whole_number, default=2222, help="port (default 2222; 0 picks a free one)"
    )
    server.add_argument(
        "--host-key",
        type=Path,
        default=Path(user_data_dir("mailpools")) / "ssh_host_ed25519_key",
        help="the server's private key; created if missing",
    )


def _serve(args) -> int:
    # Imported here: every other command starts faster without the SSH stack.
    import asyncssh

    from app.ssh.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    if not 0 <= args.port <= 65_535:
        raise MailpoolsError(f"--port must be from 0 to 65,535, not {args.port}.")

    async def main() -> None:
        try:
            acceptor = await serve(
                engine(), args.host, args.port, args.host_key, configured=settings.current()
            )
        except (OSError, asyncssh.Error, ValueError) as error:
            # A port in use, an address this machine does not have, an unreadable host key.
            reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
            raise MailpoolsError(
                f"Cannot serve SSH on {args.host}:{args.port} with host key "
                f"{args.host_key}: {reason}."
            ) from None
        port = acceptor.sockets[0].getsockname()[1]
        print(f"mailpools ssh-server listening on {args.host}:{port}", flush=True)
        await serve_until_signalled(acceptor)

    asyncio.run(main())
    return 0
