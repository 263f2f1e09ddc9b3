"""Email addresses as typed by people and programs: checked once, in one way."""

from __future__ import annotations

from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from app.errors import MailpoolsError
from app.rules.formatting import one_line


@lru_cache(maxsize=4096)
def parse_address(value: str | None, field: str) -> tuple[str, str]:
    """Return (address, domain) or refuse an address that SMTP cannot carry.

    An internationalised domain is accepted and carried in its ASCII (punycode)
    form; the local part must be ASCII, as this sender does not use SMTPUTF8.
    Checking one costs most of a millisecond and the same senders come back
    message after message, so recent answers are remembered.
    """
    raw = (value or "").strip()
    if not raw:
        raise MailpoolsError(f"Give the {field} address, e.g. news@example.com.", field=field)
    if len(raw.rpartition("@")[0]) > 64:
        # RFC 5321's limit: receiving servers refuse longer ones.
        raise MailpoolsError(
            f"The {field} address's local part (before the @) is longer than 64 characters.",
            field=field,
        )
    try:
        # Deliverability is the sender's business, not a DNS query's here; the .test
        # names (RFC 2606) are allowed because loopback tests and demos send to them.
        checked = validate_email(
            raw, check_deliverability=False, allow_smtputf8=False, test_environment=True
        )
    except EmailNotValidError as error:
        raise MailpoolsError(
            f"{one_line(repr(raw), 80)} is not an email address this sender can use: {error}",
            field=field,
        ) from None
    return checked.ascii_email or checked.normalized, checked.ascii_domain.lower()
