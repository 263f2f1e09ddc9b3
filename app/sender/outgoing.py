"""What the sender adds to a rendered message before it leaves: envelope and signature.

`Outgoing.seal(message, render(message))` adds the unsubscribe headers to
campaigns and broadcasts and signs the result with the From domain's active
DKIM key; `return_path(message)` is the envelope sender, a per-message
address on the return-path domain whose signed token names the message.
Keys arrive with each claimed batch; each private key is parsed once and kept
while it stays the domain's active key.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from app import clock, settings
from app.rules.return_path import TokenMaker, TokenPurpose, return_path_domain
from app.sender.signing import SigningKey, dkim_signature, load_private_key, with_crlf
from app.sender.store import ClaimedMessage, StoredKey
from app.services.secrets import RETURN_PATH_SECRET, server_secret
from data.db import session_scope
from data.models import MessageKind

log = logging.getLogger("mailpools.sender")

BULK_KINDS = frozenset({MessageKind.CAMPAIGN.value, MessageKind.BROADCAST.value})


def _from_domain(message: ClaimedMessage) -> str:
    return message.from_addr.rpartition("@")[2].lower()


class Outgoing:
    def __init__(
        self,
        secret: bytes,
        *,
        return_path_template: str | None = None,
        unsubscribe_url: str | None = None,
    ) -> None:
        self.secret = secret
        self.tokens = TokenMaker(secret)
        self.return_path_template = return_path_template
        self.unsubscribe_url = unsubscribe_url
        self.keys: dict[int, SigningKey] = {}
        self._parsed: dict[int, tuple[int, SigningKey]] = {}
        self._warned: set[int] = set()
        # From domain (as written in From) -> its return-path domain; a batch's
        # messages share a handful of From domains.
        self._return_domains: dict[str, str] = {}

    def use_keys(self, keys: dict[int, StoredKey]) -> None:
        """Sign DOMAIN ids' mail with these keys from now on (the claim's latest reading)."""
        for domain_id, stored in keys.items():
            parsed = self._parsed.get(domain_id)
            if parsed is None or parsed[0] != stored.id:
                key = SigningKey(
                    stored.domain, stored.selector, load_private_key(stored.private_key_pem)
                )
                parsed = self._parsed[domain_id] = (stored.id, key)
            self.keys[domain_id] = parsed[1]

    def _return_domain(self, message: ClaimedMessage) -> str:
        written = message.from_addr.rpartition("@")[2]
        domain = self._return_domains.get(written)
        if domain is None:
            domain = return_path_domain(self.return_path_template, written.lower())
            self._return_domains[written] = domain
        return domain

    def return_path(self, message: ClaimedMessage) -> str:
        return self.tokens.address(TokenPurpose.BOUNCE, message.id, self._return_domain(message))

    def unsubscribe_headers(self, message: ClaimedMessage) -> bytes:
        """List-Unsubscribe (RFC 2369) with one-click (RFC 8058), for bulk mail only."""
        if message.kind not in BULK_KINDS:
            return b""
        token = self.tokens.token(TokenPurpose.UNSUBSCRIBE, message.id)
        targets = [f"<mailto:{token}@{self._return_domain(message)}?subject=unsubscribe>"]
        if self.unsubscribe_url:
            targets.append(f"<{self.unsubscribe_url}/{token}>")
        return (
            f"List-Unsubscribe: {', '.join(targets)}\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        ).encode()

    def seal(self, message: ClaimedMessage, rendered: bytes) -> bytes:
        """RENDERED with the unsubscribe headers added and a DKIM signature on top."""
        payload = self.unsubscribe_headers(message) + with_crlf(rendered)
        key = self.keys.get(message.domain_id)
        if key is None:
            if message.domain_id not in self._warned:
                self._warned.add(message.domain_id)
                log.warning(
                    "%s has no DKIM key yet; its mail leaves unsigned until one is made "
                    "(`mailpools inventory apply` makes new domains' keys after the file is "
                    "applied, `mailpools db upgrade` any still missing)",
                    _from_domain(message),
                )
            return payload
        return dkim_signature(payload, key, timestamp=int(clock.now().timestamp())) + payload


def configured_outgoing(engine: Engine) -> Outgoing:
    """An Outgoing from the settings in force; without a configured secret, the one kept
    in the database (made there on first use)."""
    configured = settings.current()
    if configured.return_path_secret:
        secret = configured.return_path_secret.encode()
    else:
        with session_scope(engine) as session:
            secret = server_secret(session, RETURN_PATH_SECRET)
    return Outgoing(
        secret,
        return_path_template=configured.return_path_domain,
        unsubscribe_url=configured.unsubscribe_url,
    )
