"""Signed tokens that name one message: in its envelope sender and its unsubscribe address.

A token reads `<purpose>-<message id>-<mac>`: the purpose says what mail sent
to it means (`b` a bounce, `u` an unsubscribe request), the id is the
message's row in the outbox, and the mac is an HMAC-SHA256 of both under the
server's secret, cut to 128 bits and written in lowercase hex. Receiving
servers may change the case of a local part, so tokens are read without
regard to case. Without the secret no token can be made or guessed, and a
token for one purpose is refused for another.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum

DEFAULT_RETURN_PATH_DOMAIN = "bounces.{domain}"
MAC_BYTES = 16


class TokenPurpose(StrEnum):
    BOUNCE = "b"
    UNSUBSCRIBE = "u"


@dataclass(frozen=True, slots=True)
class MessageToken:
    purpose: TokenPurpose
    message_id: int


def _mac(secret: bytes, purpose: TokenPurpose, message_id: int) -> str:
    # The one-shot form: the sender makes two of these for every message it sends.
    digest = hmac.digest(secret, f"{purpose.value}-{message_id}".encode(), "sha256")
    return digest[:MAC_BYTES].hex()


def make_token(secret: bytes, purpose: TokenPurpose, message_id: int) -> str:
    return f"{purpose.value}-{message_id}-{_mac(secret, purpose, message_id)}"


class TokenMaker:
    """`make_token` and `token_address` for one secret, keyed once: the sender makes two
    or three tokens for every message it sends, and setting up the HMAC key cost more
    than the rest of the work."""

    def __init__(self, secret: bytes) -> None:
        self._keyed = hmac.new(secret, digestmod="sha256")

    def token(self, purpose: TokenPurpose, message_id: int) -> str:
        mac = self._keyed.copy()
        mac.update(f"{purpose.value}-{message_id}".encode())
        return f"{purpose.value}-{message_id}-{mac.digest()[:MAC_BYTES].hex()}"

    def address(self, purpose: TokenPurpose, message_id: int, domain: str) -> str:
        return f"{self.token(purpose, message_id)}@{domain}"


def read_token(secret: bytes, token: str) -> MessageToken | None:
    """The message TOKEN names, or None when it is malformed or was not made with SECRET."""
    parts = token.strip().lower().split("-")
    if len(parts) != 3 or not parts[1].isascii() or not parts[1].isdigit():
        return None
    try:
        purpose = TokenPurpose(parts[0])
    except ValueError:
        return None
    message_id = int(parts[1])
    if str(message_id) != parts[1]:  # a second spelling of the same id, e.g. leading zeros
        return None
    if not hmac.compare_digest(parts[2], _mac(secret, purpose, message_id)):
        return None
    return MessageToken(purpose, message_id)


def return_path_domain(template: str | None, from_domain: str) -> str:
    """Where a From domain's bounces go: TEMPLATE with {domain} filled in."""
    return (template or DEFAULT_RETURN_PATH_DOMAIN).format(domain=from_domain.lower())


def token_address(secret: bytes, purpose: TokenPurpose, message_id: int, domain: str) -> str:
    return f"{make_token(secret, purpose, message_id)}@{domain}"


def read_address(
    secret: bytes, address: str, purpose: TokenPurpose | None = None
) -> MessageToken | None:
    """The message an address made by `token_address` names; None for any other address,
    and for a token of another PURPOSE when one is asked for."""
    local, at, _ = address.strip().strip("<>").rpartition("@")
    if not at:
        return None
    token = read_token(secret, local)
    if token is None or (purpose is not None and token.purpose != purpose):
        return None
    return token
