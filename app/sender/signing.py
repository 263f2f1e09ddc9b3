"""DKIM signatures (RFC 6376), rsa-sha256 with relaxed/relaxed canonicalization.

The arithmetic is OpenSSL's through `cryptography` (about 1 ms a signature),
where dkimpy's own would cost about 11 ms; the tests verify what this signs
with dkimpy. Messages are bytes with CRLF line endings, as they go on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# The fields signed when present, in this order (RFC 6376 5.4.1, and RFC 8058 for the last two).
SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "list-unsubscribe",
    "list-unsubscribe-post",
)

_BARE_LINE_ENDINGS = re.compile(rb"\r\n|\r|\n")
# Whitespace that relaxed canonicalization changes: a tab, or more than one character.
# Single spaces, by far the most common, are left alone, which keeps a 20 KB body cheap.
_WHITESPACE_TO_SQUEEZE = re.compile(rb"[ \t]{2,}|\t")
_FOLD = re.compile(rb"\r\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """What a signature needs: the d= domain, the s= selector and the private key."""

    domain: str
    selector: str
    private_key: rsa.RSAPrivateKey


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    # Checking an RSA key's consistency costs 100 to 400 ms; these keys are our own, made
    # by app.services.dkim and read from our database, and a sender may meet thousands.
    key = serialization.load_pem_private_key(
        pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("a DKIM key must be an RSA key")
    return key


def with_crlf(message: bytes) -> bytes:
    """MESSAGE as SMTP will carry it: every line ending CRLF, the last line too. Signing
    that form leaves no doubt about trailing whitespace on an unterminated last line."""
    line_ends = message.count(b"\r\n")
    if message.count(b"\r") != line_ends or message.count(b"\n") != line_ends:
        message = _BARE_LINE_ENDINGS.sub(b"\r\n", message)
    return message if message.endswith(b"\r\n") else message + b"\r\n"


def split_message(message: bytes) -> tuple[list[bytes], bytes]:
    """The header fields (each with its folding, without the final CRLF) and the body."""
    head, separator, body = message.partition(b"\r\n\r\n")
    if not separator:
        # No empty line: all header, or a header block that ends right at its last CRLF.
        head, body = message.removesuffix(b"\r\n"), b""
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    return fields, body


def relaxed_header(field: bytes) -> bytes:
    """One header field in relaxed form (RFC 6376 3.4.2), without the CRLF that follows it."""
    name, _, value = field.partition(b":")
    # Most fields are one line with single spaces: the checks are cheaper than the patterns.
    if b"\r\n" in value:
        value = _FOLD.sub(b"", value)
    if b"\t" in value or b"  " in value:
        value = _WHITESPACE_TO_SQUEEZE.sub(b" ", value)
    value = value.strip(b" \t")
    return name.strip(b" \t").lower() + b":" + value


def relaxed_body(body: bytes) -> bytes:
    """BODY (CRLF line endings throughout, as `with_crlf` leaves it) in relaxed form
    (RFC 6376 3.4.4); an empty body stays empty."""
    if b"\t" in body or b"  " in body:
        body = _WHITESPACE_TO_SQUEEZE.sub(b" ", body)
    # Whitespace is now single spaces, so one space at most ends a line.
    if b" \r\n" in body:
        body = body.replace(b" \r\n", b"\r\n")
    # Line endings come in CRLF pairs, so this removes whole empty lines and nothing else.
    body = body.rstrip(b"\r\n")
    if body.endswith(b" "):
        body = body[:-1]
    return body + b"\r\n" if body else b""


def _chosen_fields(fields: list[bytes], names: Iterable[str]) -> tuple[list[str], list[bytes]]:
    """The signed names (repeated per instance) and their fields, each instance taken from the
    bottom up as RFC 6376 5.4.2 describes."""
    by_name: dict[str, list[bytes]] = {}
    for field in fields:
        by_name.setdefault(field.partition(b":")[0].strip().lower().decode("ascii"), []).append(
            field
        )
    listed: list[str] = []
    chosen: list[bytes] = []
    for name in names:
        for field in reversed(by_name.get(name, [])):
            listed.append(name)
            chosen.append(field)
    return listed, chosen


def _folded(data: str, width: int = 72) -> str:
    return "\r\n\t".join(data[i : i + width] for i in range(0, len(data), width))


def dkim_signature(
    message: bytes,
    key: SigningKey,
    *,
    timestamp: int,
    header_names: Iterable[str] = SIGNED_HEADERS,
) -> bytes:
    """The DKIM-Signature header field for MESSAGE (CRLF line endings), with its CRLF."""
    fields, body = split_message(message)
    body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()
    names, chosen = _chosen_fields(fields, header_names)
    unsigned = (
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={key.domain};"
        f" s={key.selector};\r\n\tt={timestamp}; h={':'.join(names)};\r\n\tbh={body_hash};\r\n\tb="
    ).encode()
    signed_data = b"".join(relaxed_header(field) + b"\r\n" for field in chosen)
    signed_data += relaxed_header(unsigned)
    signature = key.private_key.sign(signed_data, padding.PKCS1v15(), hashes.SHA256())
    return unsigned + _folded(base64.b64encode(signature).decode()).encode() + b"\r\n"


def sign(message: bytes, key: SigningKey, *, timestamp: int) -> bytes:
    """MESSAGE with CRLF line endings and its DKIM-Signature on top."""
    message = with_crlf(message)
    return dkim_signature(message, key, timestamp=timestamp) + message
