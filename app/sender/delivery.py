"""SMTP with aiosmtplib: connections bound to a pool IP, and one message per call.

Each connection binds its socket to the chosen IP (`source_address`) and
greets with that IP's hostname, so the receiving server sees the address and
the name the route chose. Connections are kept and reused per (IP, destination).
Every phase has its own timeout, so a server that stalls fails on its own
clock: the TCP connect, the greeting, each command, and the DATA transfer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime

import aiosmtplib
from aiosmtplib import SMTPDataError, SMTPServerDisconnected, SMTPStatus, SMTPTimeoutError

from app.rules.routing import RoutingIp
from app.sender.destinations import Destination
from app.sender.store import ClaimedMessage
from app.sender.tls import OPPORTUNISTIC, TlsFailed, TlsPolicy, secure, tls_version

log = logging.getLogger("mailpools.sender")

# Text of a generated message: one queued by subject alone, with no submitted content.
BODY = "This message was sent by mailpools.\r\n"
# A line that starts with a period gets a second one on the wire (RFC 5321 4.5.2).
_LEADING_PERIOD = re.compile(rb"(?m)^\.")


@dataclass(frozen=True, slots=True)
class Reply:
    """The server's answer to one message; code None means the connection failed."""

    code: int | None
    text: str
    # The TLS version of the connection that carried an answered message; None in clear.
    tls: str | None = None

    @property
    def accepted(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return self.code is not None and 500 <= self.code < 600

    def __str__(self) -> str:
        return f"{self.code} {self.text}" if self.code is not None else self.text


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds each SMTP phase may take before the connection is given up."""

    connect: float = 10.0
    greeting: float = 30.0
    command: float = 30.0
    data: float = 60.0


def render(message: ClaimedMessage) -> bytes:
    """The message's bytes: its submitted content, or a generated one for a message
    queued by subject alone."""
    if message.content is not None:
        return message.content
    subject = message.subject
    if not subject.isascii():
        subject = Header(subject, "utf-8").encode()
    return (
        f"From: {message.from_addr}\r\n"
        f"To: {message.to_addr}\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {message.message_id}\r\n"
        f"Date: {format_datetime(message.created_at)}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{BODY}"
    ).encode()


def _same_family(source: str, host: str) -> bool:
    return (":" in source) == (":" in host)


async def open_connection(
    ip: RoutingIp, destination: Destination, timeouts: Timeouts, tls: TlsPolicy = OPPORTUNISTIC
) -> aiosmtplib.SMTP:
    """Connect from IP to the first destination host that answers (over TLS when offered, or
    as TLS requires); raise the last error otherwise."""
    last_error: Exception | None = None
    for position, (host, port) in enumerate(destination.hosts):
        if not _same_family(ip.address, host):
            continue
        try:
            client = await _greeted(ip, host, port, timeouts)
            try:
                await secure(client, tls, destination.host_name(position))
            except TlsFailed as error:
                # As MTAs do with opportunistic TLS: a handshake that fails is no reason
                # to hold mail the receiver would take in clear.
                client.close()
                log.warning("%s; sending to it in clear from %s", error, ip.address)
                client = await _greeted(ip, host, port, timeouts)
            except BaseException:
                client.close()
                raise
            return client
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
            last_error = error
    if last_error is None:
        raise aiosmtplib.SMTPConnectError(
            f"{destination.name} has no address reachable from {ip.address}"
        )
    raise last_error


async def _greeted(ip: RoutingIp, host: str, port: int, timeouts: Timeouts) -> aiosmtplib.SMTP:
    """A client connected from IP to HOST:PORT that has been greeted and has said EHLO."""
    # The socket is connected here, so the client is given no port of its own.
    client = aiosmtplib.SMTP(
        hostname=host,
        local_hostname=ip.hostname,
        timeout=timeouts.command,
        start_tls=False,
    )
    try:
        bound = await _connect_socket(ip.address, host, port, timeouts.connect)
        await client.connect(sock=bound, timeout=timeouts.greeting)
        await client.ehlo()
    except BaseException:
        client.close()
        raise
    return client


async def _connect_socket(source: str, host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection from SOURCE to HOST:PORT, within TIMEOUT seconds (the greeting has its own)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bound = socket.socket(family, socket.SOCK_STREAM)
    bound.setblocking(False)
    try:
        bound.bind((source, 0))
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(bound, (host, port)), timeout
        )
    except TimeoutError:
        bound.close()
        raise TimeoutError(f"timed out connecting to {host} port {port}") from None
    except BaseException:
        bound.close()
        raise
    return bound


class ConnectionBroken(Exception):
    """The connection can no longer be used; the reply says why."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


async def send_one(
    client: aiosmtplib.SMTP,
    message: ClaimedMessage,
    payload: bytes,
    data_timeout: float,
    mail_from: str,
) -> Reply:
    """One envelope from MAIL_FROM on an open connection. Raises ConnectionBroken when the
    connection is lost.

    MAIL and RCPT take the connection's command timeout; DATA its own.
    """
    try:
        await client.mail(mail_from)
        await client.rcpt(message.to_addr)
        response = await send_data(client, payload, data_timeout)
        return Reply(response.code, response.message, tls_version(client))
    except aiosmtplib.SMTPResponseException as error:
        reply = Reply(error.code, error.message)
        if error.code == 421:
            raise ConnectionBroken(reply) from error
        try:
            await client.rset()
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as reset_error:
            raise ConnectionBroken(reply) from reset_error
        return reply
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
        raise ConnectionBroken(Reply(None, f"connection failed: {error}")) from error


async def send_data(
    client: aiosmtplib.SMTP, payload: bytes, timeout: float
) -> aiosmtplib.SMTPResponse:
    """DATA with PAYLOAD, whose lines all end in CRLF already (as `Outgoing.seal` leaves
    them), answered as aiosmtplib's own `data` would be.

    aiosmtplib's `data` rewrites every line ending of the message with a pattern before
    it sends, the largest cost of a 20 KB message after its signature; a sealed message
    needs only its periods doubled, and usually not even that. This speaks through the
    connection's protocol as `data` does (its command lock, its reply bookkeeping).
    """
    protocol = client.protocol
    if protocol is None or protocol._command_lock is None:
        raise SMTPServerDisconnected("Connection lost")
    if payload.startswith(b".") or b"\n." in payload:
        payload = _LEADING_PERIOD.sub(b"..", payload)
    try:
        async with protocol._command_lock:
            protocol._response_pending = True
            protocol.write(b"DATA\r\n")
            start = await protocol.read_response(timeout=timeout)
            if start.code != SMTPStatus.start_input:
                raise SMTPDataError(start.code, start.message)
            protocol._response_pending = True
            # One write: a small second one would wait for the first's acknowledgement.
            protocol.write(payload + b".\r\n")
            response = await protocol.read_response(timeout=timeout)
    except (SMTPServerDisconnected, SMTPTimeoutError):
        client.close()
        raise
    if response.code != SMTPStatus.completed:
        raise SMTPDataError(response.code, response.message)
    return response


async def close_quietly(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await asyncio.wait_for(client.quit(), 2)
    except (TimeoutError, aiosmtplib.SMTPException, OSError):
        client.close()
