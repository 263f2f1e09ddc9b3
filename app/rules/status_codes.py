"""Whether a receiver's refusal is hard (the address is bad) or soft (try again later).

One rule for every place a refusal is read: synchronous SMTP replies and the
delivery status notifications receivers send back later. An enhanced status
code (RFC 3463, `class.subject.detail`) decides when there is one; the basic
SMTP reply code decides otherwise.

Hard means "suppress this recipient at once", so it is kept for codes that say
the address itself is wrong. Anything that says the message, our sender, the
path or the receiver's system is at fault is soft: soft bounces suppress an
address only after several in a row, so a receiver that keeps misusing a soft
code for a dead mailbox is caught anyway, while one bad day never costs a good
address. By subject, for class 5:

- 5.0.x (undefined) and unknown subjects: hard, as RFC 3463 says to read an
  unknown subject as X.0.0 and the permanent class as "will fail again".
- 5.1.x (addressing): hard, except 5.1.7 and 5.1.8, which blame our sender's
  address, not the recipient's.
- 5.2.x (mailbox): soft, except 5.2.1 (mailbox disabled), the usual code for a
  closed account. 5.2.2 (mailbox full) is soft: the owner may empty it.
- 5.3.x (receiving system) and 5.6.x (media): soft; the system or the message
  is at fault, not the address.
- 5.4.x (network, routing): soft, except 5.4.4 (unable to route), what mail
  servers report when the recipient's domain has no mail host at all.
- 5.5.x (protocol): soft; a fault in the SMTP conversation says nothing about
  the mailbox.
- 5.7.x (security, policy): soft, as these are mostly blocks of the sending IP
  or domain (5.7.1 spam refusals, authentication failures) and suppressing the
  recipient would not help; except 5.7.13 (user account disabled) and 5.7.17
  and 5.7.18 (mailbox or domain owner has changed), which are about the address.

Without an enhanced code: 4xx soft; 5xx hard, except 552 (RFC 5321: exceeded
storage allocation, the basic code's "mailbox full", which RFC 5321 also asks
clients to read as temporary) and 500-504 (command and syntax errors, faults of
the conversation), which are soft.
"""

from __future__ import annotations

import re
from enum import StrEnum

# RFC 3463: class "." subject "." detail, with class 2, 4 or 5 and 1 to 3 digits after.
ENHANCED_CODE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}", re.ASCII)

_HARD_SUBJECTS = frozenset({0, 1})
_KNOWN_SUBJECTS = frozenset(range(8))
_SOFT_ADDRESS_DETAILS = frozenset({7, 8})  # bad sender's mailbox or system address
_HARD_DETAILS = {2: {1}, 4: {4}, 7: {13, 17, 18}}
_SOFT_BASIC_CODES = frozenset({500, 501, 502, 503, 504, 552})


class Severity(StrEnum):
    HARD = "hard"
    SOFT = "soft"


def enhanced_code(text: str) -> str | None:
    """The enhanced status code opening an SMTP reply's TEXT ("5.1.1 No such user" gives
    "5.1.1"), or None when the text does not start with one."""
    if not isinstance(text, str):
        return None
    stripped = text.lstrip()
    match = ENHANCED_CODE.match(stripped)
    if match is None:
        return None
    rest = stripped[match.end() :]
    if rest and not rest[0].isspace():
        return None
    return match.group()


def severity(status: str | None, smtp_code: int | None = None) -> Severity | None:
    """HARD or SOFT for a refusal, from its enhanced STATUS code when that is valid, else
    from the basic SMTP_CODE; None when neither is a failure code."""
    code = enhanced_code(status) if isinstance(status, str) else None
    if code is not None:
        return _enhanced_severity(code)
    if isinstance(smtp_code, int) and not isinstance(smtp_code, bool):
        return _basic_severity(smtp_code)
    return None


def _enhanced_severity(code: str) -> Severity | None:
    klass, subject, detail = (int(part) for part in code.split("."))
    if klass == 2:
        return None
    if klass == 4:
        return Severity.SOFT
    if subject not in _KNOWN_SUBJECTS:
        subject, detail = 0, 0
    if subject in _HARD_SUBJECTS:
        if subject == 1 and detail in _SOFT_ADDRESS_DETAILS:
            return Severity.SOFT
        return Severity.HARD
    return Severity.HARD if detail in _HARD_DETAILS.get(subject, ()) else Severity.SOFT


def _basic_severity(code: int) -> Severity | None:
    if 400 <= code <= 499:
        return Severity.SOFT
    if 500 <= code <= 599:
        return Severity.SOFT if code in _SOFT_BASIC_CODES else Severity.HARD
    return None


def reply_severity(reply: str | None) -> Severity:
    """Hard or soft for a synchronous refusal's text ("550 5.1.1 No such user"): the same
    rule as for reports. A final failure that says nothing readable counts as soft, since
    it says nothing against the address."""
    text = reply or ""
    code_text, _, rest = text.partition(" ")
    code = int(code_text) if code_text.isdigit() and len(code_text) == 3 else None
    return severity(enhanced_code(rest), code) or Severity.SOFT
