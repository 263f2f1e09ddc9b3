"""STARTTLS on the sender's connections: opportunistic by default, required where asked.

As MTAs do, a receiving server that offers STARTTLS gets it, without checking
its certificate (RFC 7435): encryption against passive listeners, and no mail
held up by the self-signed certificates many MX hosts present. Destinations
named as requiring TLS get it with a verified certificate for the MX host's
name, or no connection at all; so does the smarthost when relay mode asks.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiosmtplib


class TlsRequired(aiosmtplib.SMTPException):
    """The destination must be reached over verified TLS, and could not be."""


class TlsFailed(aiosmtplib.SMTPException):
    """STARTTLS was offered but did not work; the connection is no longer usable."""


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    required: bool = False
    # PEM certificate authorities to verify against when required; None: the system's.
    ca_file: str | None = None

    def context(self) -> ssl.SSLContext:
        if self.required:
            return ssl.create_default_context(cafile=self.ca_file)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context


OPPORTUNISTIC = TlsPolicy()


async def secure(client: aiosmtplib.SMTP, policy: TlsPolicy, server_name: str) -> None:
    """STARTTLS on CLIENT (connected and greeted) when offered; raise TlsRequired when the
    policy requires TLS and the server does not offer it or TLS fails, and TlsFailed when
    opportunistic TLS fails (a handshake the two ends cannot agree on, a refusal)."""
    if not client.supports_extension("starttls"):
        if policy.required:
            raise TlsRequired(f"{server_name} does not offer STARTTLS, which is required")
        return
    try:
        await client.starttls(
            tls_context=policy.context(),
            server_hostname=server_name if policy.required else None,
        )
        # RFC 3207: what the server said before TLS no longer counts; greet it again.
        await client.ehlo()
    except ssl.SSLCertVerificationError as error:
        raise TlsRequired(f"{server_name}'s certificate failed verification: {error}") from error
    except (ssl.SSLError, aiosmtplib.SMTPException, ConnectionError) as error:
        if policy.required:
            raise TlsRequired(f"TLS with {server_name} failed: {error}") from error
        raise TlsFailed(f"STARTTLS with {server_name} failed: {error}") from error


def tls_version(client: aiosmtplib.SMTP) -> str | None:
    """The TLS version CLIENT's connection runs over, or None in clear."""
    ssl_object = client.get_transport_info("ssl_object")
    return ssl_object.version() if ssl_object is not None else None
