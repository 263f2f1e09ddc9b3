"""The product's rules as pure functions: validators, eligibility and pricing.

Everything here is free of the database so forms can run the same checks
live, as the person types, that the services run on submit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, localcontext

from app import settings
from app.errors import MailpoolsError
from app.rules.formatting import dollars

DEDICATED_WEEKLY_MINIMUM = 50_000
PREMIUM_FREE_DEDICATED_IPS = 3
DEDICATED_IP_MONTHLY_CENTS = 50_00
# The same price as people read it: "$50".
DEDICATED_IP_PRICE = dollars(DEDICATED_IP_MONTHLY_CENTS)
# Far above any real sender, and safely inside a 32-bit integer column.
MAX_WEEKLY_VOLUME = 1_000_000_000

MIN_JUSTIFICATION_WORDS = 6
MIN_JUSTIFICATION_LETTERS = 25
# A few paragraphs; an agent reads every one of them.
MAX_JUSTIFICATION_CHARACTERS = 2_000
# A reason an owner reads (a denial, a removal) fits in a notification.
MAX_REASON_CHARACTERS = 500
# Words that carry no information about what will be sent.
FILLER_WORDS = frozenset(
    """
    a an the and or but of to in on at for with from by as is are was be been it this that
    these those we our us i my me you your they them will would shall should can could may
    might do does did just very really please thanks thank hi hello ok okay yes no test
    testing stuff things thing something anything whatever etc email emails mail mails
    send sending sent need needs want wants asdf qwerty lorem ipsum dolor sit amet foo bar
    baz xxx blah na n/a tbd todo consectetur adipiscing elit sed eiusmod tempor incididunt
    labore dolore magna aliqua
    """.split()
)


def max_ips_per_request() -> int:
    """The deployment's limit (MAILPOOLS_MAX_IPS_PER_REQUEST), from the settings in force."""
    return settings.current().max_ips_per_request


def validate_justification(text: str | None) -> str:
    """Return the justification trimmed, or refuse one that says nothing.

    A real justification is a sentence or more: enough words, and enough of
    them meaningful (not filler, not one word repeated, not keyboard mash).
    """
    cleaned = " ".join((text or "").split())
    field = "justification"
    if not cleaned:
        raise MailpoolsError(
            "Say what this domain will send: the justification is empty.", field=field
        )
    if len(cleaned) > MAX_JUSTIFICATION_CHARACTERS:
        raise MailpoolsError(
            f"Keep the justification under {MAX_JUSTIFICATION_CHARACTERS:,} characters; "
            f"this one has {len(cleaned):,}.",
            field=field,
        )
    # Words are what the spaces separate; "receipts/refunds/resets" is one, not three.
    word_count = sum(1 for token in cleaned.split() if re.search(r"[^\W\d_]", token))
    words = re.findall(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", cleaned.lower())
    letters = sum(len(word) for word in words)
    if word_count < MIN_JUSTIFICATION_WORDS or letters < MIN_JUSTIFICATION_LETTERS:
        raise MailpoolsError(
            "Describe what you will send in a sentence or more "
            f"(at least {MIN_JUSTIFICATION_WORDS} words), e.g. which messages, to whom, and why.",
            field=field,
        )
    meaningful = {word for word in words if word not in FILLER_WORDS and len(word) > 2}
    if len(meaningful) < 3:
        raise MailpoolsError(
            "The justification is mostly filler: name the messages you will send "
            "(for example receipts, password resets, shipping updates) and who gets them.",
            field=field,
        )
    if sum(1 for word in meaningful if _looks_like_a_word(word)) < 3:
        raise MailpoolsError(
            "The justification does not read as a sentence: describe the messages in plain words.",
            field=field,
        )
    return cleaned


def validate_reason(text: str | None, *, when_empty: str) -> str:
    """Return a reason an owner will read (why a request was denied, why a domain was
    removed) trimmed, or refuse it: one rule for every such reason. It must say something
    in words ("-1" or "1e9" tell the owner nothing), in plain text, and fit a notification.
    WHEN_EMPTY is the refusal for no reason at all, which says who reads it."""
    cleaned = " ".join((text or "").split())
    field = "reason"
    if not cleaned:
        raise MailpoolsError(when_empty, field=field)
    if len(cleaned) > MAX_REASON_CHARACTERS:
        raise MailpoolsError(
            f"Keep the reason under {MAX_REASON_CHARACTERS:,} characters; "
            f"this one has {len(cleaned):,}.",
            field=field,
        )
    if not cleaned.isprintable():
        raise MailpoolsError(
            "The reason holds characters that do not print; write it in plain text.", field=field
        )
    if not re.search(r"[^\W\d_]{2,}", cleaned):
        raise MailpoolsError(
            "Write the reason in words the owner can act on, e.g. "
            "“Bounce rate 9% over the last week.”",
            field=field,
        )
    return cleaned


def _looks_like_a_word(word: str) -> bool:
    # Keyboard mash like "sdfghjkl" or "aaaaaa" has no vowels, very long consonant
    # runs, or hardly any distinct letters.
    if len(set(word)) < 2:
        return False
    if not re.search(r"[aeiouyàáâäåèéêëìíîïòóôöùúûüæøœ]", word):
        return not word.isascii()  # scripts without Latin vowels count as words
    return re.search(r"[bcdfghjklmnpqrstvwxz]{5,}", word) is None


def normalise_domain(name: str) -> str:
    """The ASCII (punycode) form of a domain name, lower case, without a final dot."""
    cleaned = (name or "").strip().rstrip(".").lower()
    if not cleaned:
        return ""
    if cleaned.isascii():
        # The codec leaves ASCII labels as they are (or refuses them, and then so do we):
        # the common case, checked without it for files of thousands of names.
        return cleaned
    try:
        return cleaned.encode("idna").decode("ascii")
    except UnicodeError:
        return cleaned


def domain_names_match(typed: str | None, domain: str) -> bool:
    """True when TYPED names DOMAIN: case-insensitive, IDN and punycode forms alike."""
    typed_form = normalise_domain(typed or "")
    return bool(typed_form) and typed_form == normalise_domain(domain)


def validate_confirmation(typed: str | None, domain: str) -> str:
    if not domain_names_match(typed, domain):
        raise MailpoolsError(
            f"Type the domain name exactly to confirm: {domain}.", field="confirmation"
        )
    return (typed or "").strip()


_VOLUME_PATTERN = re.compile(r"^(-?)([0-9]+(?:[.,][0-9]+)?)\s*([km]?)$")
_GROUPED_PATTERN = re.compile(r"^(-?)([0-9]{1,3}(?:[, ][0-9]{3})+)$")
_MULTIPLIERS = {"": 1, "k": 1_000, "m": 1_000_000}


def parse_volume(text: str | int | None) -> int:
    """Read a weekly volume: "80000", "80,000", "80 000", "80k", "1.5m"."""
    if isinstance(text, int) and not isinstance(text, bool):
        return _volume_in_range(Decimal(text))
    raw = str(text if text is not None else "").strip().lower().replace("_", "")
    if not raw:
        raise MailpoolsError("Enter the expected weekly volume, e.g. 80000 or 80k.", field="volume")
    grouped = _GROUPED_PATTERN.match(raw)
    if grouped:
        sign, digits = grouped.groups()
        return _volume_in_range(Decimal(sign + re.sub(r"[, ]", "", digits)))
    match = _VOLUME_PATTERN.match(raw)
    if not match:
        raise MailpoolsError(
            f"{str(text).strip()[:40]!r} is not a number of emails; write e.g. 80000, 80,000 or 80k.",
            field="volume",
        )
    sign, number, suffix = match.groups()
    if "," in number and not suffix:
        # "80,00" is more likely a mistyped 80,000 than eighty.
        raise MailpoolsError(
            f"{raw!r} is ambiguous: write whole thousands as 80,000 or 80k.", field="volume"
        )
    # Decimal, not float: "1.001k" is exactly 1001, and huge inputs cannot overflow.
    with localcontext() as context:
        context.prec = len(number) + 10  # enough digits that the product is exact
        value = Decimal(sign + number.replace(",", ".")) * _MULTIPLIERS[suffix]
    if value != value.to_integral_value():
        raise MailpoolsError("The weekly volume must be a whole number of emails.", field="volume")
    return _volume_in_range(value)


def _volume_in_range(value: Decimal) -> int:
    if value < 0:
        raise MailpoolsError("The weekly volume cannot be negative.", field="volume")
    if value > MAX_WEEKLY_VOLUME:
        raise MailpoolsError(
            f"A weekly volume above {MAX_WEEKLY_VOLUME:,} emails is not believable; "
            "check the number.",
            field="volume",
        )
    return int(value)


def check_dedicated_volume(weekly_volume: int) -> None:
    if weekly_volume < DEDICATED_WEEKLY_MINIMUM:
        raise MailpoolsError(
            f"Dedicated IPs need at least {DEDICATED_WEEKLY_MINIMUM:,} emails a week across "
            f"the domains that use them; {weekly_volume:,} is below that.",
            field="volume",
        )


def check_ip_count(count: int, maximum: int | None = None) -> None:
    maximum = maximum or max_ips_per_request()
    if isinstance(count, bool) or not isinstance(count, int):
        raise MailpoolsError(
            f"Ask for a whole number of dedicated IPs from 1 to {maximum}, not {count!r}.",
            field="ips",
        )
    if not 1 <= count <= maximum:
        raise MailpoolsError(
            f"Ask for between 1 and {maximum} dedicated IPs; {count} is out of range.",
            field="ips",
        )


@dataclass(frozen=True)
class CostQuote:
    """The monthly price of adding IPs to an account that already has some."""

    plan: str
    existing_ips: int
    requested_ips: int
    free_ips: int  # how many of the requested IPs are free
    paid_ips: int
    monthly_cents: int
    free_left_before: int  # Premium free IPs still unused before this request

    @property
    def monthly_dollars(self) -> str:
        return dollars(self.monthly_cents)

    def describe(self) -> str:
        if self.plan == "premium":
            allowance = f"{self.free_left_before} of your {PREMIUM_FREE_DEDICATED_IPS} free Premium IPs left"
        else:
            allowance = f"Standard plan: every dedicated IP is {DEDICATED_IP_PRICE}/month"
        return f"{allowance} — this request: {self.monthly_dollars}/month"


def quote_monthly_cost(plan: str, existing_ips: int, requested_ips: int) -> CostQuote:
    """Premium: the account's first three dedicated IPs are free, then each at the monthly
    price. Standard: each at the monthly price."""
    if existing_ips < 0 or requested_ips < 0:
        raise MailpoolsError("IP counts cannot be negative.")
    if plan == "premium":
        free_left = max(0, PREMIUM_FREE_DEDICATED_IPS - existing_ips)
    else:
        free_left = 0
    free = min(free_left, requested_ips)
    paid = requested_ips - free
    return CostQuote(
        plan=plan,
        existing_ips=existing_ips,
        requested_ips=requested_ips,
        free_ips=free,
        paid_ips=paid,
        monthly_cents=paid * DEDICATED_IP_MONTHLY_CENTS,
        free_left_before=free_left,
    )


def refusal_for_kind(domain_mode: str, message_kind: str, domain_name: str) -> str | None:
    """Why a message of this kind may not be sent from the domain, or None if it may."""
    if domain_mode == "transactional" and message_kind in ("campaign", "broadcast"):
        return (
            f"{domain_name} is in the transactional pool, which sends transactional "
            f"messages only: {message_kind}s from it are refused."
        )
    return None
