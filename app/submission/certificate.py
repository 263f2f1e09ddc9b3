"""The submission server's TLS certificate: the one given, or a self-signed one made once."""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from app import clock
from app.errors import MailpoolsError
from app.rules.formatting import one_line

SELF_SIGNED_DAYS = 825
CERTIFICATE_NAME = "submission-cert.pem"
KEY_NAME = "submission-key.pem"


@dataclass(frozen=True)
class CertificateFiles:
    certificate: Path
    key: Path
    # True when this start made them (the command says where they are).
    created: bool = False


def self_signed_files(directory: Path, hostname: str) -> CertificateFiles:
    """The self-signed certificate and key under DIRECTORY, made on first use."""
    certificate, key = directory / CERTIFICATE_NAME, directory / KEY_NAME
    if certificate.is_file() and key.is_file():
        return CertificateFiles(certificate, key)
    directory.mkdir(parents=True, exist_ok=True)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = clock.now()
    alternative_names: list[x509.GeneralName] = [x509.DNSName(hostname)]
    try:
        alternative_names.append(x509.IPAddress(ipaddress.ip_address(hostname)))
    except ValueError:
        pass
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .sign(private_key, hashes.SHA256())
    )
    # The key is written readable by its owner only, before any secret goes in.
    descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(
            private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    certificate.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    return CertificateFiles(certificate, key, created=True)


def server_context(files: CertificateFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(files.certificate, files.key)
    except (OSError, ssl.SSLError) as error:
        raise MailpoolsError(
            f"Cannot use the certificate {one_line(str(files.certificate), 200)} with the key "
            f"{one_line(str(files.key), 200)}: {getattr(error, 'strerror', None) or error}."
        ) from None
    return context
