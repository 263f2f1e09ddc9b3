"""The SMTP submission server (aiosmtpd): log in after STARTTLS, hand over messages, get queue ids.

Every check of what may be queued lives in `app.services.outbox`, the same
function `enqueue` uses; this module only speaks SMTP: it logs clients in,
turns each refusal into its reply code and sentence, and runs the database
work in threads so one slow transaction never stalls the other connections.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import ssl
from base64 import b64decode
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine

from app import settings
from app.errors import MailpoolsError, PermissionDenied
from app.rules.failed_logins import FailedLogins
from app.services import credentials, outbox
from app.services.credentials import SubmissionLogin
from app.smtp.batches import BatchWriter
from app.smtp.server import MailpoolsSMTP, OpenTransactions
from data.db import session_scope

log = logging.getLogger("mailpools.submit")

# Ids listed in an accepted message's reply; the count covers the rest.
LISTED_IDS = 100

# Each refusal's reply code and enhanced status, by the field the service names.
REPLY_CODES = {
    "size": "552 5.3.4",
    "content": "550 5.6.0",
    "to": "553 5.1.3",
    "from": "553 5.1.3",
    "recipients": "452 4.5.3",
    "rate": "451 4.7.0",
    "kind": "550 5.7.1",
}
NOT_QUEUED = "451 4.3.0 The message could not be queued just now; try again later."
NOT_ALLOWED = "550 5.7.1"
LOGIN_FAILED = "535 5.7.8 The username or password is wrong, or the credential was revoked."
LOGIN_NEEDS_TLS = (
    "530 5.7.0 Log in only after STARTTLS: this server never takes a password in plain text."
)


def reply_for(error: MailpoolsError) -> str:
    """The SMTP reply for a refusal: its code, then the service's one sentence."""
    if isinstance(error, PermissionDenied):
        code = NOT_ALLOWED
    else:
        code = REPLY_CODES.get(error.field or "", "550 5.7.1")
    return f"{code} {' '.join(error.message.split())}"


class QueueWriter(BatchWriter[outbox.QueueRequest, outbox.EnqueueResult]):
    """Queues submissions a batch at a time (see `app.smtp.batches`), one transaction
    each: `outbox.submit_many` checks every message of the batch before it writes the
    accepted ones together, so a refusal is raised to its submission alone and leaves
    nothing written."""

    def __init__(self, engine: Engine, transactions: OpenTransactions) -> None:
        super().__init__(self._write, coming=transactions)
        self.engine = engine

    async def submit(self, request: outbox.QueueRequest) -> outbox.EnqueueResult:
        return await self.do(request)

    def _write(
        self, jobs: list[outbox.QueueRequest]
    ) -> list[outbox.EnqueueResult | MailpoolsError]:
        with self.engine.begin() as connection:
            return list(outbox.submit_many(connection, jobs))


class SubmissionHandler:
    """The aiosmtpd handler: checks addresses as they come and queues each accepted message."""

    def __init__(self, engine: Engine, *, failed_login_delay: float | None = None) -> None:
        configured = settings.current()
        self.engine = engine
        self.settings = configured
        self.failed_logins = FailedLogins(
            configured.auth_failure_delay if failed_login_delay is None else failed_login_delay
        )
        self.transactions = OpenTransactions()
        self.writer = QueueWriter(engine, self.transactions)

    def _in_transaction(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with session_scope(self.engine) as session:
            return work(session, *args, **kwargs)

    async def run(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._in_transaction, work, *args, **kwargs)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        try:
            sender, _ = outbox.parse_address(address, "from")
        except MailpoolsError as error:
            return reply_for(error)
        envelope.mail_from = sender
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        try:
            outbox.check_recipient_count(len(envelope.rcpt_tos) + 1)
            recipient, _ = outbox.parse_address(address, "to")
        except MailpoolsError as error:
            return reply_for(error)
        envelope.rcpt_tos.append(recipient)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = server.login if isinstance(server, SubmissionSMTP) else None
        assert login is not None, "aiosmtpd asks for a login before DATA"
        assert envelope.original_content is not None
        try:
            # Read and checked here, as it arrives: a message refused for its form, size or
            # recipients never reaches the writer, and the writer's thread only writes.
            request = outbox.prepare_submission(
                login, raw=envelope.original_content, recipients=list(envelope.rcpt_tos)
            )
            result = await self.writer.submit(request)
        except MailpoolsError as error:
            return reply_for(error)
        except Exception:
            log.exception("could not queue a message from %s", login.username)
            return NOT_QUEUED
        ids = result.message_ids[:LISTED_IDS]
        if result.suppressed:
            # The message is taken (so the client does not retry it), but told plainly.
            listed = ", ".join(result.suppressed[:LISTED_IDS])
            lines = [f"250-2.0.0 {message_id}" for message_id in ids]
            return "\r\n".join(
                [
                    *lines,
                    f"250 2.0.0 Queued {result.count}; not sent to {listed}: "
                    "on this account's suppression list",
                ]
            )
        if result.count == 1:
            return f"250 2.0.0 Queued as {ids[0]}"
        lines = [f"250-2.0.0 {message_id}" for message_id in ids]
        return "\r\n".join([*lines, f"250 2.0.0 Queued {result.count} messages, one per recipient"])

    async def authenticate(self, peer: str, username: str, secret: str) -> SubmissionLogin | None:
        login = await self.run(credentials.authenticate, username, secret)
        if login is None:
            delay = self.failed_logins.failed(peer)
            log.warning("failed login as %r from %s; answering in %.1fs", username, peer, delay)
            await asyncio.sleep(delay)
            return None
        self.failed_logins.succeeded(peer)
        return login


def _decode(blob: bytes | str) -> bytes | None:
    if blob in ("=", b"="):
        return b""
    try:
        return b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return None


class SubmissionSMTP(MailpoolsSMTP):
    """aiosmtpd's SMTP with submission's login: PLAIN or LOGIN, over TLS only (after
    STARTTLS, or from the first byte on an implicit-TLS port), each secret checked in a
    thread against its scrypt hash."""

    def __init__(
        self, handler: SubmissionHandler, *, implicit_tls: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(
            handler,
            transactions=handler.transactions,
            auth_required=True,
            auth_require_tls=True,
            decode_data=False,
            **kwargs,
        )
        if implicit_tls:
            # aiosmtpd counts only STARTTLS as encryption and would hide AUTH on a port
            # that is encrypted from the first byte; `smtp_AUTH` checks `_encrypted` instead.
            self._auth_require_tls = False
        self.submission = handler
        self.login: SubmissionLogin | None = None

    def _encrypted(self) -> bool:
        if self._tls_protocol is not None:
            return True
        return self.transport is not None and bool(self.transport.get_extra_info("ssl_object"))

    async def smtp_AUTH(self, arg: str) -> None:
        if await self.check_helo_needed("EHLO"):
            return
        assert self.session is not None
        if not self.session.extended_smtp:
            await self.push("500 5.5.1 Say EHLO before AUTH.")
            return
        if not self._encrypted():
            await self.push(LOGIN_NEEDS_TLS)
            return
        if self.session.authenticated:
            await self.push("503 5.5.1 Already logged in.")
            return
        words = (arg or "").split()
        if not 1 <= len(words) <= 2 or words[0].upper() not in ("PLAIN", "LOGIN"):
            await self.push("504 5.5.4 Log in with AUTH PLAIN or AUTH LOGIN.")
            return
        given = await self._read_login(words[0].upper(), words[1] if len(words) == 2 else None)
        if given is None:
            await self.push("501 5.5.2 The login could not be read (base64 expected).")
            return
        username, secret = given
        peer: str = self.session.peer[0]  # type: ignore[index]
        login = await self.submission.authenticate(peer, username, secret)
        if login is None:
            await self.push(LOGIN_FAILED)
            return
        self.session.authenticated = True
        self.login = login
        await self.push("235 2.7.0 Logged in.")

    async def _read_login(self, mechanism: str, initial: str | None) -> tuple[str, str] | None:
        if mechanism == "PLAIN":
            blob = _decode(initial) if initial is not None else await self._answer(b"")
            if blob is None or blob.count(b"\0") != 2:
                return None
            _, username, secret = blob.split(b"\0")
        else:
            name = _decode(initial) if initial is not None else await self._answer(b"Username:")
            if name is None:
                return None
            password = await self._answer(b"Password:")
            if password is None:
                return None
            username, secret = name, password
        try:
            return username.decode("utf-8"), secret.decode("utf-8")
        except UnicodeDecodeError:
            return None

    async def _answer(self, challenge: bytes) -> bytes | None:
        answer = await self.challenge_auth(challenge)
        return answer if isinstance(answer, bytes) else None


async def serve_submission(
    engine: Engine,
    host: str,
    port: int,
    tls_context: ssl.SSLContext,
    *,
    handler: SubmissionHandler | None = None,
    hostname: str | None = None,
    implicit_tls: bool = False,
) -> asyncio.Server:
    """Listen on HOST:PORT (0 picks a free port) until the returned server is closed: with
    STARTTLS offered, or with IMPLICIT_TLS over TLS from the first byte (RFC 8314)."""
    submission = handler or SubmissionHandler(engine)
    limit = submission.settings.submission_max_bytes
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SubmissionSMTP(
            submission,
            implicit_tls=implicit_tls,
            tls_context=None if implicit_tls else tls_context,
            data_size_limit=limit,
            hostname=hostname or host,
            ident="mailpools submission",
            loop=loop,
        ),
        host=host,
        port=port,
        ssl=tls_context if implicit_tls else None,
    )
