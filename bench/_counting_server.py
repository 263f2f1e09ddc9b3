"""The SMTP benchmarks' baseline: a bare aiosmtpd server that only counts messages.

Given a certificate and key it speaks what the submission client needs
(STARTTLS, then AUTH) and takes every login and every message without looking
at either; given none it is a plain SMTP server, as the inbound listener is.
Run as a process: `python -m bench._counting_server [CERT KEY]` prints its
port, then on SIGTERM the number of messages it received.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import sys
import warnings
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session


class CountingHandler:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received += 1
        return "250 2.0.0 Counted"


def accept_any_login(*_: Any) -> AuthResult:
    return AuthResult(success=True)


async def main(certificate: str | None, key: str | None) -> None:
    handler = CountingHandler()
    loop = asyncio.get_running_loop()
    logins: dict[str, Any] = {}
    if certificate and key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate, key)
        logins = {
            "tls_context": context,
            "auth_required": True,
            "auth_require_tls": True,
            "authenticator": accept_any_login,
        }
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="127.0.0.1", loop=loop, **logins),
        host="127.0.0.1",
        port=0,
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    print(handler.received, flush=True)


if __name__ == "__main__":
    # aiosmtpd warns of its own deprecated field at every login it accepts.
    warnings.filterwarnings("ignore", message="Session.login_data is deprecated")
    asyncio.run(main(*(sys.argv[1:3] if len(sys.argv) == 3 else (None, None))))
