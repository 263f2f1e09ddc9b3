"""OpenSSH public keys as users' identities: parsed for real, compared by the key itself.

A key is who a person is over SSH, so every key is read by asyncssh (the type
label must match the key, the body must be whole) and compared by its key
material, never by its text: the comment and the spelling do not count.
"""

from __future__ import annotations

from app.errors import MailpoolsError

# Longer than any real public key line (a 16384-bit RSA key is about 2,800 characters).
MAX_KEY_LENGTH = 8_192


class KeyRefused(MailpoolsError):
    pass


def key_identity(openssh_line: str) -> bytes:
    """The key material of one OpenSSH public key line; raises KeyRefused with the reason."""
    import asyncssh  # Only needed when keys are read: keeps the console's start light.

    line = openssh_line.strip()
    if not line:
        raise KeyRefused("is empty")
    if len(line) > MAX_KEY_LENGTH:
        raise KeyRefused(f"is longer than {MAX_KEY_LENGTH} characters")
    if "\n" in line or "\r" in line:
        raise KeyRefused("holds more than one line: write each key as its own list item")
    try:
        key = asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError) as error:
        reason = str(error).rstrip(".").lower() or "cannot be read"
        raise KeyRefused(f"is not a usable OpenSSH public key ({reason})") from None
    return key.public_data


def identity_or_none(openssh_line: str) -> bytes | None:
    """Like key_identity, but None for a line that is no key (a login attempt, a stored leftover)."""
    try:
        return key_identity(openssh_line)
    except KeyRefused:
        return None


def stored_identities(ssh_keys: str) -> set[bytes]:
    """The identities of a user's stored keys (one per line); lines that are no key are ignored."""
    identities = (identity_or_none(line) for line in ssh_keys.splitlines() if line.strip())
    return {identity for identity in identities if identity is not None}
