"""A loopback SMTP sink (aiosmtpd) that records where each message came from.

Tests, benchmarks and the demo send to it in relay mode. Every pool IP in the
test and demo inventories is a 127.0.0.x address, so the peer address the sink
sees is the source address the sender bound: it proves the routing end to end.

Recipients steer the replies, so failure paths can be exercised with real SMTP:
a local part starting with "defer" gets 451, "bounce" gets 550, "spam" gets 554
after the whole message is in, "stall" gets no reply to DATA for `stall_seconds`,
and "wait" no reply to RCPT for as long.
With `stall_greeting_every=N`, every Nth connection waits as long for its greeting.
`release_stalls()` ends every stall at once, now and later (tests use it to
decide when a stalled server answers, rather than racing a clock).

`python -m app.demo.sink [--port N]` runs one in the foreground and prints its port.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import ssl
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Delivery:
    peer_ip: str
    helo: str | None
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message_id: str | None
    # The TLS version the message arrived over (after STARTTLS), or None in clear.
    tls_version: str | None = None
    # The message as received, when the sink keeps content.
    content: bytes = b""


class SinkHandler:
    """aiosmtpd handler: replies as the recipients ask and records what arrived."""

    def __init__(
        self, *, record: bool = True, stall_seconds: float = 30.0, keep_content: bool = False
    ) -> None:
        self.record = record
        self.keep_content = keep_content
        self.stall_seconds = stall_seconds
        self.deliveries: list[Delivery] = []
        self.by_peer: Counter[str] = Counter()
        self.helo_by_peer: dict[str, str | None] = {}
        self.connections = 0
        self.stalled_greetings = 0
        self._lock = threading.Lock()
        self._stalls_released = threading.Event()

    async def stall(self) -> None:
        """No answer for stall_seconds, or until release_stalls()."""
        deadline = asyncio.get_running_loop().time() + self.stall_seconds
        while not self._stalls_released.is_set():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.05))

    def release_stalls(self) -> None:
        self._stalls_released.set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        local = address.split("@", 1)[0].lower()
        if local.startswith("wait"):
            await self.stall()
        if local.startswith("defer"):
            return "451 4.3.0 Mailbox busy, try again later"
        if local.startswith("bounce"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        local_parts = [rcpt.split("@", 1)[0].lower() for rcpt in envelope.rcpt_tos]
        if any(local.startswith("stall") for local in local_parts):
            await self.stall()
        if any(local.startswith("spam") for local in local_parts):
            # Refused once the whole message is in, as content filters do.
            return "554 5.7.1 Message refused as spam"
        # aiosmtpd annotates peer as a string, but it holds the socket's (host, port).
        peer_ip: str = session.peer[0]  # type: ignore[index]
        with self._lock:
            self.by_peer[peer_ip] += 1
            if self.record:
                # aiosmtpd answers DATA only after MAIL FROM, and keeps the raw bytes as well.
                assert envelope.mail_from is not None and envelope.original_content is not None
                found = _MESSAGE_ID.search(envelope.original_content)
                # aiosmtpd keeps the TLS transport's extra information once STARTTLS is done.
                ssl_object = (session.ssl or {}).get("ssl_object")
                self.deliveries.append(
                    Delivery(
                        peer_ip=peer_ip,
                        helo=session.host_name,
                        mail_from=envelope.mail_from,
                        rcpt_tos=tuple(envelope.rcpt_tos),
                        message_id=found.group(1).decode() if found else None,
                        tls_version=ssl_object.version() if ssl_object else None,
                        content=envelope.original_content if self.keep_content else b"",
                    )
                )
                self.helo_by_peer[peer_ip] = session.host_name
        return "250 2.0.0 Message accepted"

    def received(self) -> int:
        with self._lock:
            return sum(self.by_peer.values())

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)


class _CountingSMTP(SMTP):
    def __init__(
        self, handler: SinkHandler, stall_greeting_every: int | None, **kwargs: Any
    ) -> None:
        super().__init__(handler, **kwargs)
        self._sink_handler = handler
        self._stall_greeting_every = stall_greeting_every
        self._stall_greeting = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._sink_handler.connections += 1
        every = self._stall_greeting_every
        if every and self._sink_handler.connections % every == 0:
            self._stall_greeting = True
            self._sink_handler.stalled_greetings += 1
        super().connection_made(transport)

    async def _handle_client(self) -> None:
        if self._stall_greeting:
            await self._sink_handler.stall()
        await super()._handle_client()


class LoopbackSink:
    """An SMTP sink on 127.0.0.1 served from its own thread and event loop.

    Usable from synchronous and asynchronous code alike:
    `with LoopbackSink() as sink: ... sink.port ... sink.handler.deliveries`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        record: bool = True,
        stall_seconds: float = 30.0,
        stall_greeting_every: int | None = None,
        tls_context: ssl.SSLContext | None = None,
        keep_content: bool = False,
    ) -> None:
        self.host = host
        self.stall_greeting_every = stall_greeting_every
        self.port = port
        # With a context the sink offers STARTTLS (without requiring it).
        self.tls_context = tls_context
        self.handler = SinkHandler(
            record=record, stall_seconds=stall_seconds, keep_content=keep_content
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> LoopbackSink:
        self._thread = threading.Thread(target=self._serve, name="smtp-sink", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                loop.create_server(
                    lambda: _CountingSMTP(
                        self.handler,
                        self.stall_greeting_every,
                        hostname="sink.mailpools.test",
                        loop=loop,
                        tls_context=self.tls_context,
                    ),
                    host=self.host,
                    port=self.port,
                )
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as error:
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        self._server.close()
        loop.run_until_complete(self._server.wait_closed())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> LoopbackSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a loopback SMTP sink that counts messages.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    sink = LoopbackSink(args.host, args.port, record=False).start()
    print(sink.port, flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    while not stopped.wait(0.5):
        pass
    sink.stop()
    for peer, count in sorted(sink.handler.by_peer.items()):
        print(f"{peer} {count}", flush=True)


if __name__ == "__main__":
    main()
