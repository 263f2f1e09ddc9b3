"""The inbound listener (aiosmtpd): mail back to the addresses the sender signed.

It takes mail only for return-path and unsubscribe addresses: a local part shaped
like a token (`b-<id>-<mac>` or `u-<id>-<mac>`), so it can never relay or collect
anyone else's mail; any other recipient gets 550 5.1.1. A token whose signature does
not hold is accepted and dropped with a log line: refusing it would send a bounce of
a bounce, and tell a prober which tokens are real. Each accepted mail is read
(`app.feedback.reports`) as it arrives, on the event loop, and recorded
(`app.services.feedback`) in a thread; mail that arrives meanwhile shares the next
transaction, written together (one read of the messages they name, one update of
the daily counts). Should that transaction fail, the batch is written again with
each mail in its own savepoint, so only a mail whose own recording fails is told
to try later (451), and nothing is lost. Domains that a hard bounce or a
complaint may have pushed over their pool's limits are checked once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from app import settings
from app.feedback.reports import read_report
from app.rules.return_path import read_address
from app.services import feedback, health
from app.services.secrets import RETURN_PATH_SECRET, server_secret
from app.smtp.batches import BatchWriter
from app.smtp.server import MailpoolsSMTP, OpenTransactions
from data.db import session_scope

log = logging.getLogger("mailpools.inbound")

# A token's shape (see app.rules.return_path); whether it is genuine is the MAC's say.
_TOKEN_SHAPE = re.compile(r"[bu]-[0-9]{1,19}-[0-9a-f]{32}", re.ASCII | re.IGNORECASE)
NOT_HERE = (
    "550 5.1.1 No such mailbox here: this server takes only bounces and unsubscribe requests."
)
TRY_LATER = "451 4.3.0 The report could not be recorded just now; please try again later."
HEALTH_INTERVAL_SECONDS = 1.0
# One mail as received and read: a report for each signed recipient.
_Mail = list[feedback.MailedReport]


def token_shaped(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and domain and _TOKEN_SHAPE.fullmatch(local))


class InboundHandler:
    """aiosmtpd handler: RCPT checks the address, DATA records what the mail reports."""

    def __init__(self, engine: Engine, secret: bytes) -> None:
        self.engine = engine
        self.secret = secret
        self.judged: set[int] = set()
        self.transactions = OpenTransactions()
        self.writer = BatchWriter(self._record_batch, coming=self.transactions)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not token_shaped(address):
            return NOT_HERE
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        tokens = []
        for address in envelope.rcpt_tos:
            token = read_address(self.secret, address)
            if token is None:
                peer = session.peer[0] if session.peer else "?"
                log.warning("dropped mail from %s to %s: its token is not ours", peer, address)
            else:
                tokens.append((address, token))
        if not tokens:
            return "250 2.0.0 OK"
        mail_from = envelope.mail_from or ""
        mail = [
            feedback.MailedReport(
                token, read_report(raw, token.purpose.value), raw, mail_from, address
            )
            for address, token in tokens
        ]
        try:
            heard = await self.writer.do(mail)
        except Exception:
            # The sender keeps the mail and tries again: better than losing a report.
            log.exception("could not record mail to %s", ", ".join(a for a, _ in tokens))
            return TRY_LATER
        for each in heard:
            log.info("%s", each.summary)
            if each.judged_domain_id is not None:
                self.judged.add(each.judged_domain_id)
        return "250 2.0.0 OK"

    def _record_batch(self, jobs: list[_Mail]) -> list[list[feedback.Heard] | Exception]:
        """Record the batch's mails together in one transaction; if that fails, again each
        in its own savepoint, so one that fails is told to try later alone."""
        try:
            with self.engine.begin() as connection:
                heard = feedback.record_mails(connection, [each for mail in jobs for each in mail])
        except Exception:
            if len(jobs) == 1:
                raise
            log.warning("could not record %d mails together; recording each alone", len(jobs))
        else:
            answers: list[list[feedback.Heard] | Exception] = []
            for mail in jobs:
                answers.append(heard[: len(mail)])
                heard = heard[len(mail) :]
            return answers
        results: list[list[feedback.Heard] | Exception] = []
        with self.engine.begin() as connection:
            for mail in jobs:
                try:
                    with connection.begin_nested():
                        results.append(feedback.record_mails(connection, mail))
                except Exception as error:
                    # Undone alone, and told to that mail's sender (451), not to the batch.
                    results.append(error)
        return results

    async def check_health(self) -> None:
        """Now and then, the pool limits of the domains whose counts just went up."""
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_SECONDS)
            await self.check_judged()

    async def check_judged(self) -> None:
        if not self.judged:
            return
        domain_ids, self.judged = self.judged, set()
        try:
            removed = await asyncio.to_thread(
                health.check_domain_health, self.engine, domain_ids=domain_ids
            )
        except SQLAlchemyError:
            log.exception("could not check the health of %d domains", len(domain_ids))
            self.judged |= domain_ids
            return
        for verdict in removed:
            log.warning("removed %s from %s: %s", verdict.domain, verdict.pool, verdict.reason)


def load_secret(engine: Engine) -> bytes:
    with session_scope(engine) as session:
        return server_secret(session, RETURN_PATH_SECRET)


class InboundServer:
    """The listening server and its health checks, closed together."""

    def __init__(self, server: asyncio.Server, handler: InboundHandler) -> None:
        self.server = server
        self.handler = handler
        self.checks = asyncio.create_task(handler.check_health())

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    def close(self) -> None:
        self.checks.cancel()
        self.server.close()

    async def wait_closed(self) -> None:
        await self.server.wait_closed()
        with contextlib.suppress(asyncio.CancelledError):
            await self.checks
        # What came in since the last check is judged before the listener goes.
        await self.handler.check_judged()


async def serve_inbound(
    engine: Engine, host: str, port: int, *, handler: InboundHandler | None = None
) -> InboundServer:
    """Listen on HOST:PORT (0 picks a free port) until the returned server is closed."""
    limit = settings.current().inbound_max_bytes
    loop = asyncio.get_running_loop()
    ready: list[InboundHandler] = []
    # Bound before the secret is read (and made, the first time), so an address that
    # cannot be listened on leaves the database as it was.
    server = await loop.create_server(
        lambda: _InboundSMTP(ready[0], data_size_limit=limit, hostname=host, loop=loop),
        host=host,
        port=port,
        start_serving=False,
    )
    try:
        ready.append(
            handler or InboundHandler(engine, await asyncio.to_thread(load_secret, engine))
        )
    except BaseException:
        server.close()
        raise
    await server.start_serving()
    return InboundServer(server, ready[0])


class _InboundSMTP(MailpoolsSMTP):
    def __init__(self, handler: InboundHandler, **kwargs: Any) -> None:
        super().__init__(
            handler,
            transactions=handler.transactions,
            decode_data=False,
            ident="mailpools inbound",
            **kwargs,
        )
