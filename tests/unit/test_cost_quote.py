"""The monthly price of dedicated IPs: Premium's first three are free, every other one is $50."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import MailpoolsError
from app.rules.policy import (
    DEDICATED_IP_MONTHLY_CENTS,
    PREMIUM_FREE_DEDICATED_IPS,
    quote_monthly_cost,
)

PLANS = st.sampled_from(["premium", "standard"])
COUNTS = st.integers(min_value=0, max_value=1_000)


@pytest.mark.parametrize(
    ("plan", "existing", "requested", "free", "cents"),
    [
        ("premium", 0, 1, 1, 0),
        ("premium", 0, 3, 3, 0),
        ("premium", 0, 4, 3, 50_00),
        ("premium", 2, 2, 1, 50_00),
        ("premium", 3, 1, 0, 50_00),
        ("premium", 5, 2, 0, 100_00),
        ("standard", 0, 1, 0, 50_00),
        ("standard", 0, 3, 0, 150_00),
        ("standard", 7, 2, 0, 100_00),
    ],
)
def test_examples(plan, existing, requested, free, cents):
    quote = quote_monthly_cost(plan, existing, requested)
    assert (quote.free_ips, quote.paid_ips, quote.monthly_cents) == (free, requested - free, cents)


def test_the_quote_reads_as_a_price():
    assert quote_monthly_cost("premium", 2, 2).monthly_dollars == "$50"
    assert quote_monthly_cost("standard", 0, 30).monthly_dollars == "$1,500"
    assert "1 of your 3 free Premium IPs left" in quote_monthly_cost("premium", 2, 2).describe()
    assert "$50/month" in quote_monthly_cost("standard", 0, 1).describe()


@pytest.mark.parametrize(("existing", "requested"), [(-1, 1), (0, -1)])
def test_negative_counts_are_refused(existing, requested):
    with pytest.raises(MailpoolsError, match="cannot be negative"):
        quote_monthly_cost("premium", existing, requested)


@given(PLANS, COUNTS, COUNTS)
def test_cost_is_fifty_dollars_for_each_paid_ip(plan, existing, requested):
    quote = quote_monthly_cost(plan, existing, requested)
    assert quote.free_ips + quote.paid_ips == requested
    assert quote.monthly_cents == DEDICATED_IP_MONTHLY_CENTS * quote.paid_ips
    assert 0 <= quote.free_ips <= PREMIUM_FREE_DEDICATED_IPS


@given(COUNTS, COUNTS)
def test_standard_pays_for_every_ip(existing, requested):
    quote = quote_monthly_cost("standard", existing, requested)
    assert quote.free_ips == 0
    assert quote.monthly_cents == 50_00 * requested


@given(COUNTS, COUNTS)
def test_premium_gets_what_is_left_of_three_free(existing, requested):
    quote = quote_monthly_cost("premium", existing, requested)
    assert quote.free_ips == min(requested, max(0, PREMIUM_FREE_DEDICATED_IPS - existing))


@given(PLANS, st.lists(st.integers(min_value=0, max_value=20), max_size=30))
def test_free_ips_never_exceed_three_across_any_sequence_of_requests(plan, requests):
    existing = 0
    free_total = 0
    cents_total = 0
    for requested in requests:
        quote = quote_monthly_cost(plan, existing, requested)
        free_total += quote.free_ips
        cents_total += quote.monthly_cents
        existing += requested
    allowance = PREMIUM_FREE_DEDICATED_IPS if plan == "premium" else 0
    assert free_total == min(existing, allowance)
    # However the IPs were split into requests, the account pays for the same number.
    assert cents_total == DEDICATED_IP_MONTHLY_CENTS * (existing - min(existing, allowance))


@given(PLANS, COUNTS, COUNTS, st.integers(min_value=0, max_value=50))
def test_more_ips_never_cost_less(plan, existing, requested, more):
    fewer = quote_monthly_cost(plan, existing, requested)
    assert quote_monthly_cost(plan, existing, requested + more).monthly_cents >= fewer.monthly_cents
    # Owning more already never makes the next IPs cheaper either.
    assert quote_monthly_cost(plan, existing + more, requested).monthly_cents >= fewer.monthly_cents


@given(COUNTS, COUNTS)
def test_premium_never_pays_more_than_standard(existing, requested):
    premium = quote_monthly_cost("premium", existing, requested)
    standard = quote_monthly_cost("standard", existing, requested)
    assert premium.monthly_cents <= standard.monthly_cents
