"""`mailpools ssh-server`: serve the console to `ssh` clients."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from platformdirs import user_data_dir

from app import settings
from app.cli.arguments import seconds, whole_number
from app.cli.common import command, engine
from app.errors import MailpoolsError

DEFAULT_IDLE_TIMEOUT = 30 * 60
DEFAULT_MAX_SESSIONS_PER_USER = 5
DEFAULT_MAX_SESSIONS = 200


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
    server.add_argument(
        "--idle-timeout",
        type=seconds,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="close a session after this long without input (default 1800, 30 minutes)",
    )
    server.add_argument(
        "--max-sessions-per-user",
        type=whole_number,
        default=DEFAULT_MAX_SESSIONS_PER_USER,
        metavar="N",
        help=f"sessions one user may have open at once (default {DEFAULT_MAX_SESSIONS_PER_USER})",
    )
    server.add_argument(
        "--max-sessions",
        type=whole_number,
        default=DEFAULT_MAX_SESSIONS,
        metavar="N",
        help=f"sessions the server holds open at once (default {DEFAULT_MAX_SESSIONS})",
    )
    server.add_argument(
        "--fingerprint",
        action="store_true",
        help="print the host key's fingerprint (creating the key if missing) and exit",
    )


def _serve(args) -> int:
    # Imported here: every other command starts faster without the SSH stack.
    import asyncssh

    from app.ssh.server import (
        DoorLimits,
        console_environment,
        host_key_fingerprint,
        load_or_create_host_key,
        serve,
    )
    from app.ssh.warm_parent import WarmParent

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    if not 0 <= args.port <= 65_535:
        raise MailpoolsError(f"--port must be from 0 to 65,535, not {args.port}.")
    if args.idle_timeout <= 0:
        raise MailpoolsError("--idle-timeout must be more than 0 seconds.")
    for option, value in (
        ("--max-sessions-per-user", args.max_sessions_per_user),
        ("--max-sessions", args.max_sessions),
    ):
        if value < 1:
            raise MailpoolsError(f"{option} must be at least 1.")
    try:
        host_key = load_or_create_host_key(args.host_key)
    except (OSError, asyncssh.Error, ValueError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        raise MailpoolsError(f"Cannot use the host key {args.host_key}: {reason}.") from None
    fingerprint = host_key_fingerprint(host_key)
    if args.fingerprint:
        print(f"{fingerprint} {args.host_key}")
        return 0
    limits = DoorLimits(
        idle_timeout=args.idle_timeout,
        max_sessions_per_user=args.max_sessions_per_user,
        max_sessions=args.max_sessions,
    )

    # Forked now, while this process runs no thread and no event loop, the session parent
    # shares what this process has imported rather than importing it again.
    parent = WarmParent(console_environment(settings.current()))
    parent.fork()

    async def main() -> None:
        try:
            acceptor, door = await serve(
                engine(), args.host, args.port, host_key, settings.current(), limits, parent
            )
        except (OSError, asyncssh.Error, ValueError) as error:
            # A port in use, an address this machine does not have.
            reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
            raise MailpoolsError(
                f"Cannot serve SSH on {args.host}:{args.port} with host key "
                f"{args.host_key}: {reason}."
            ) from None
        port = acceptor.sockets[0].getsockname()[1]
        print(f"mailpools ssh-server listening on {args.host}:{port}", flush=True)
        print(f"host key fingerprint: {fingerprint}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        # Sessions first, so that each hears why it is closing before the connections go.
        await door.close()
        acceptor.close()
        await acceptor.wait_closed()

    asyncio.run(main())
    return 0
