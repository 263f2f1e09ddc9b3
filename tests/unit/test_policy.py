"""The validators people meet on the request forms: justification, confirmation, volume, IP count."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import settings
from app.errors import MailpoolsError
from app.rules import policy
from app.settings import Settings

REAL_JUSTIFICATIONS = [
    "Password resets and order receipts for customers who bought from our shop.",
    "Order confirmations, shipping updates and invoices for people who buy from us.",
    "Two-factor login codes and account security alerts for our registered users.",
    "Appointment reminders and booking confirmations sent to patients of the clinic.",
    "Мы отправляем квитанции и уведомления о доставке клиентам нашего магазина.",
]

FILLER_JUSTIFICATIONS = [
    "",
    "   ",
    "\t\n  \r\n",
    "test test test test test test",
    "test test test test test test test test test test",
    "asdf asdf asdf asdf asdf asdf",
    "asdf asdf asdf asdf asdf asdf asdf asdf asdf asdf",
    "please approve thanks ok yes",
    "please approve thanks ok yes please approve thanks ok yes",
    "approve approve approve approve approve approve approve",
    "lorem ipsum dolor sit amet consectetur adipiscing elit",
    "aaaaaa bbbbbb cccccc dddddd eeeeee ffffff",
    "sdfghjkl qwrtzpsd xcvbnmlk sdfghjkl qwrtzpsd xcvbnmlk",
    "We send receipts.",
    "receipts/invoices/refunds/shipping/orders/resets",
    "1234 5678 9012 3456 7890 1234 5678",
    "!!!! ???? .... ,,,, ---- ____",
]


def word_count(text: str) -> int:
    """Words as a reader counts them: runs separated by spaces that hold a letter."""
    return sum(1 for token in text.split() if re.search(r"[^\W\d_]", token))


@pytest.mark.parametrize("text", REAL_JUSTIFICATIONS)
def test_real_sentences_are_accepted_and_trimmed(text):
    assert policy.validate_justification(f"  {text}\n") == text


def test_inner_whitespace_is_collapsed():
    text = "Password   resets and\norder receipts for customers who bought from our shop."
    assert policy.validate_justification(text) == " ".join(text.split())


@pytest.mark.parametrize("text", FILLER_JUSTIFICATIONS + [None])
def test_empty_and_filler_justifications_are_refused_on_the_field(text):
    with pytest.raises(MailpoolsError) as refused:
        policy.validate_justification(text)
    assert refused.value.field == "justification"
    assert refused.value.message.endswith(".")


def test_empty_justification_says_it_is_empty():
    with pytest.raises(MailpoolsError, match="empty"):
        policy.validate_justification("   \n\t ")


def test_short_justification_asks_for_a_sentence():
    with pytest.raises(MailpoolsError, match="at least 6 words"):
        policy.validate_justification("We send receipts.")


def test_a_very_long_justification_is_refused():
    sentence = "Order receipts and password resets for the customers of our shop. "
    policy.validate_justification(sentence * 25)
    with pytest.raises(MailpoolsError, match="under 2,000 characters") as refused:
        policy.validate_justification(sentence * 40)
    assert refused.value.field == "justification"


def test_filler_justification_names_what_is_missing():
    with pytest.raises(MailpoolsError, match="filler"):
        policy.validate_justification("please approve this now thanks ok yes hello")


@given(st.text())
def test_any_text_is_accepted_or_refused_on_the_justification_field(text):
    try:
        accepted = policy.validate_justification(text)
    except MailpoolsError as refused:
        assert refused.field == "justification"
        assert refused.message
    else:
        assert word_count(accepted) >= policy.MIN_JUSTIFICATION_WORDS
        assert len(accepted) <= policy.MAX_JUSTIFICATION_CHARACTERS
        assert accepted == accepted.strip()
        assert accepted == " ".join(text.split())


@given(st.lists(st.sampled_from(sorted(policy.FILLER_WORDS)), min_size=0, max_size=40))
def test_any_run_of_filler_words_is_refused(words):
    with pytest.raises(MailpoolsError) as refused:
        policy.validate_justification(" ".join(words))
    assert refused.value.field == "justification"


@given(st.text(alphabet=st.characters(categories=["Zs", "Cc"]), max_size=50))
def test_any_whitespace_is_refused(text):
    with pytest.raises(MailpoolsError):
        policy.validate_justification(text)


@given(st.sampled_from(REAL_JUSTIFICATIONS), st.sampled_from(["", " ", "\n", "  \t"]))
def test_surrounding_whitespace_does_not_change_the_verdict(text, padding):
    assert policy.validate_justification(padding + text + padding) == text


# Confirmation: the requester types the domain's name.


@pytest.mark.parametrize(
    ("typed", "domain"),
    [
        ("acme.example", "acme.example"),
        ("ACME.Example", "acme.example"),
        ("acme.example.", "acme.example"),
        ("  Acme.Example.  ", "acme.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "bücher.example"),
        ("BÜCHER.EXAMPLE.", "xn--bcher-kva.example"),
        ("bücher.example", "bücher.example"),
    ],
)
def test_confirmation_matches_the_same_name_in_any_form(typed, domain):
    assert policy.domain_names_match(typed, domain)
    assert policy.validate_confirmation(typed, domain) == typed.strip()


@pytest.mark.parametrize(
    ("typed", "domain"),
    [
        ("acme.exampl", "acme.example"),
        ("www.acme.example", "acme.example"),
        ("bucher.example", "xn--bcher-kva.example"),
        ("", "acme.example"),
        ("   ", "acme.example"),
        (".", "acme.example"),
        (None, "acme.example"),
    ],
)
def test_confirmation_of_another_name_is_refused(typed, domain):
    assert not policy.domain_names_match(typed, domain)
    with pytest.raises(MailpoolsError) as refused:
        policy.validate_confirmation(typed, domain)
    assert refused.value.field == "confirmation"
    assert domain in refused.value.message


LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüéñß0123456789", min_size=1, max_size=20)
DOMAIN = st.lists(LABEL, min_size=2, max_size=4).map(".".join)


def _punycode(name: str) -> str:
    return name.encode("idna").decode("ascii")


@given(DOMAIN, st.booleans(), st.booleans(), st.booleans())
def test_any_spelling_of_a_domain_confirms_it(name, upper, trailing_dot, as_punycode):
    try:
        ascii_form = _punycode(name)
    except UnicodeError:
        return  # not a valid IDN at all (e.g. a label too long once encoded)
    typed = ascii_form if as_punycode else name
    if upper:
        typed = typed.upper()
    if trailing_dot:
        typed += "."
    assert policy.domain_names_match(typed, name)
    assert policy.domain_names_match(typed, ascii_form)


@given(DOMAIN, DOMAIN)
def test_different_domains_never_confirm_each_other(first, second):
    if policy.normalise_domain(first) == policy.normalise_domain(second):
        return
    assert not policy.domain_names_match(first, second)


@given(st.text(), st.text())
def test_confirmation_never_crashes_on_any_text(typed, domain):
    try:
        policy.validate_confirmation(typed, domain)
    except MailpoolsError as refused:
        assert refused.field == "confirmation"


# Weekly volume.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("80000", 80_000),
        ("80,000", 80_000),
        ("80 000", 80_000),
        ("1,250,000", 1_250_000),
        ("80k", 80_000),
        ("80K", 80_000),
        ("80 k", 80_000),
        ("1.5m", 1_500_000),
        ("1,5m", 1_500_000),
        ("1.001k", 1_001),
        ("1.000001m", 1_000_001),
        ("  50000  ", 50_000),
        ("50_000", 50_000),
        ("0", 0),
        (80_000, 80_000),
    ],
)
def test_volume_forms_people_write(text, expected):
    assert policy.parse_volume(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter the expected weekly volume"),
        ("   ", "Enter the expected weekly volume"),
        (None, "Enter the expected weekly volume"),
        ("lots", "'lots' is not a number of emails"),
        ("80kk", "is not a number of emails"),
        ("1e5", "is not a number of emails"),
        ("80,00", "ambiguous"),
        ("1.5", "whole number"),
        ("1.0005k", "whole number"),
        ("-5", "cannot be negative"),
        ("-80,000", "cannot be negative"),
        (-1, "cannot be negative"),
        ("2000000000", "not believable"),
        ("9" * 400 + "m", "not believable"),
        (10**12, "not believable"),
        ("١٢٣", "is not a number of emails"),
        (True, "is not a number of emails"),
    ],
)
def test_bad_volumes_are_refused_with_a_clear_message(text, message):
    with pytest.raises(MailpoolsError, match=message) as refused:
        policy.parse_volume(text)
    assert refused.value.field == "volume"


@given(st.integers())
def test_any_whole_number_is_its_own_volume_or_refused(number):
    try:
        volume = policy.parse_volume(number)
    except MailpoolsError as refused:
        assert refused.field == "volume"
        assert number < 0 or number > policy.MAX_WEEKLY_VOLUME
    else:
        assert volume == number


@given(st.integers(min_value=0, max_value=policy.MAX_WEEKLY_VOLUME))
def test_any_volume_written_with_thousands_separators_reads_back(number):
    assert policy.parse_volume(f"{number:,}") == number
    assert policy.parse_volume(f"{number:,}".replace(",", " ")) == number
    assert policy.parse_volume(str(number)) == number


@given(st.integers(min_value=0, max_value=policy.MAX_WEEKLY_VOLUME // 1000))
def test_any_thousands_written_with_k_reads_back(thousands):
    assert policy.parse_volume(f"{thousands}k") == thousands * 1000


@given(st.text())
def test_any_text_gives_a_volume_in_range_or_a_volume_refusal(text):
    try:
        volume = policy.parse_volume(text)
    except MailpoolsError as refused:
        assert refused.field == "volume"
        assert refused.message
    else:
        assert isinstance(volume, int)
        assert 0 <= volume <= policy.MAX_WEEKLY_VOLUME


@given(st.from_regex(r"\A-?[0-9]{0,12}([.,][0-9]{0,8})?\s?[kKmM]?\Z"))
def test_any_number_like_text_gives_a_volume_or_a_volume_refusal(text):
    try:
        volume = policy.parse_volume(text)
    except MailpoolsError as refused:
        assert refused.field == "volume"
    else:
        assert 0 <= volume <= policy.MAX_WEEKLY_VOLUME


def test_dedicated_minimum_is_fifty_thousand_a_week():
    policy.check_dedicated_volume(50_000)
    with pytest.raises(MailpoolsError, match="at least 50,000") as refused:
        policy.check_dedicated_volume(49_999)
    assert refused.value.field == "volume"
    assert "49,999" in refused.value.message


# Number of IPs.


def test_ip_count_defaults_to_at_most_ten():
    assert policy.max_ips_per_request() == 10
    policy.check_ip_count(1)
    policy.check_ip_count(10)
    for count in (0, -1, 11):
        with pytest.raises(MailpoolsError, match="between 1 and 10") as refused:
            policy.check_ip_count(count)
        assert refused.value.field == "ips"


@pytest.mark.parametrize("count", ["2", 2.0, None, True])
def test_ip_count_must_be_a_whole_number(count):
    with pytest.raises(MailpoolsError, match="whole number of dedicated IPs") as refused:
        policy.check_ip_count(count)
    assert refused.value.field == "ips"


def test_ip_count_limit_comes_from_the_settings_in_force():
    with settings.in_force(Settings.load({"MAILPOOLS_MAX_IPS_PER_REQUEST": "3"})):
        policy.check_ip_count(3)
        with pytest.raises(MailpoolsError, match="between 1 and 3"):
            policy.check_ip_count(4)


@pytest.mark.parametrize(
    ("value", "message"), [("many", "whole number"), ("2.5", "whole number"), ("0", "at least 1")]
)
def test_bad_ip_count_limit_is_named(value, message):
    with pytest.raises(MailpoolsError, match=message) as refused:
        Settings.load({"MAILPOOLS_MAX_IPS_PER_REQUEST": value})
    assert "MAILPOOLS_MAX_IPS_PER_REQUEST" in refused.value.message


# The transactional restriction.


@pytest.mark.parametrize("kind", ["campaign", "broadcast"])
def test_transactional_domains_refuse_campaigns_and_broadcasts(kind):
    reason = policy.refusal_for_kind("transactional", kind, "acme.example")
    assert reason is not None
    assert "acme.example" in reason and "transactional pool" in reason and kind in reason


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("transactional", "transactional"),
        ("shared", "campaign"),
        ("shared", "broadcast"),
        ("dedicated", "campaign"),
        ("shared", "transactional"),
    ],
)
def test_other_modes_and_kinds_may_send(mode, kind):
    assert policy.refusal_for_kind(mode, kind, "acme.example") is None
