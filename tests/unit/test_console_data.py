"""What the console reads and files, on SQLite and PostgreSQL, without Textual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from app import clock
from app.console.estimate import dedicated_estimate
from app.console.owner_backend import ConsoleBackend
from app.console.views import warmup_label
from app.errors import MailpoolsError, NotFound
from app.rules.formatting import plural, readable, sentence_date, short_count, table_time
from app.rules.rates import NEAR_LIMIT_FRACTION, RateAgainstLimit
from app.rules.warmup_plan import planned_days
from app.services import pools, warmups
from app.services.lookups import get_domain
from app.services.notifications import notify
from app.services.requests import decisions, filing
from data.db import session_scope
from data.models import Domain, DomainDailyStat, Message, PoolRequest
from tests.factories import build_world, user

GOOD_JUSTIFICATION = (
    "Receipts, password resets and shipping updates for customers of the Acme shop."
)


@pytest.fixture
def world(engine):
    build_world(engine)
    return engine


def add_stats(engine, domain: str, days: int, **counts) -> None:
    with session_scope(engine) as session:
        domain_id = get_domain(session, domain).id
        for back in range(days):
            session.add(
                DomainDailyStat(
                    domain_id=domain_id, day=clock.today() - timedelta(days=back), **counts
                )
            )


def test_plurals_dates_and_recorded_values_read_as_sentences():
    assert [plural(n, "IP") for n in (0, 1, 2, 1_500)] == ["0 IPs", "1 IP", "2 IPs", "1,500 IPs"]
    assert plural(3, "day") == "3 days" and plural(2, "reply", "replies") == "2 replies"
    moment = datetime(2026, 12, 2, 1, 47, tzinfo=UTC)
    assert table_time(moment) == "2 Dec 01:47"
    assert sentence_date(moment.date()) == sentence_date(moment) == "2 Dec 2026"
    assert readable({"domains": ["news.acme.example", "acme.example"], "pool": None}) == (
        "domains news.acme.example, acme.example; pool none"
    )
    assert readable([]) == "none" and readable(True) == "yes" and readable(42) == "42"


def test_short_count_reads_at_a_glance():
    assert [short_count(n) for n in (0, 950, 1_000, 82_400, 999_949, 1_250_000)] == [
        "0",
        "950",
        "1k",
        "82.4k",
        "999.9k",
        "1.2M",
    ]


@given(st.floats(0, 1), st.floats(0.0001, 1), st.integers(0, 10_000), st.integers(1, 1_000))
def test_rate_levels_follow_the_limit(value, limit, sample, min_sample):
    level = RateAgainstLimit(value, limit, sample, min_sample).level
    if sample == 0:
        assert level == "idle"
    elif sample < min_sample:
        assert level == "unjudged"
    elif value > limit:
        assert level == "over"
    elif value / limit >= NEAR_LIMIT_FRACTION:
        assert level == "near"
    else:
        assert level == "ok"


def test_home_page_sums_seven_days_per_domain_and_ignores_older_days(world):
    add_stats(world, "acme.example", 10, sent=1_000, bounced=10, complaints=1)
    backend = ConsoleBackend(world, "alice")
    page = backend.home_page()
    assert page.total == 3
    row = next(r for r in page.rows if r.name == "acme.example")
    assert row.volume_7d == 7 * 1_010
    assert row.rates_7d.bounce.value == pytest.approx(70 / 7_070)
    assert row.rates_7d.bounce.limit == 0.05 and row.rates_7d.bounce.level == "ok"
    assert row.pool == "shared-a"


def test_home_page_filters_and_clamps_offsets(world):
    backend = ConsoleBackend(world, "alice")
    assert [r.name for r in backend.home_page(filter_text="BILLING").rows] == [
        "billing.acme.example"
    ]
    # A percent sign is a character to find, not a wildcard.
    assert backend.home_page(filter_text="%").total == 0
    assert backend.home_page(offset=500, limit=2).offset == 2


def test_home_page_marks_pending_requests_and_warm_ups(world):
    with session_scope(world) as session:
        request = filing.request_dedicated(
            session, user(session, "alice"), ["news.acme.example"], weekly_volume="60k"
        ).subject
        filing.request_transactional(
            session,
            user(session, "alice"),
            "billing.acme.example",
            justification=GOOD_JUSTIFICATION,
            confirmation="billing.acme.example",
        )
    with session_scope(world) as session:
        decisions.approve(session, user(session, "sam"), request.id)
    rows = {row.name: row for row in ConsoleBackend(world, "alice").home_page().rows}
    assert rows["news.acme.example"].sending_mode == "dedicated"
    assert warmup_label(rows["news.acme.example"].warmup) == f"day 1 of {planned_days(60_000)}"
    assert rows["billing.acme.example"].pending_request == "transactional"
    assert rows["acme.example"].warmup is None and rows["acme.example"].pending_request is None


def test_domain_view_is_refused_for_another_account(world):
    """In the words used for a domain nobody has: the refusal tells nothing about bolt."""
    with pytest.raises(NotFound, match="^There is no sending domain named 'bolt.example'.$"):
        ConsoleBackend(world, "alice").domain("bolt.example")


def test_domain_view_counts_campaigns_over_thirty_days_and_lists_share_candidates(world):
    add_stats(world, "acme.example", 40, sent=100, campaign_sent=3, broadcast_sent=1)
    add_stats(world, "news.acme.example", 7, sent=2_000)
    view = ConsoleBackend(world, "alice").domain("acme.example")
    assert (view.campaign_30d, view.broadcast_30d) == (90, 30)
    assert view.shared_pool.name == "shared-a"
    assert [ip.address for ip in view.shared_pool.ips] == ["127.0.0.2", "127.0.0.3"]
    assert view.transactional_pool.name == "transactional"
    assert [(c.name, c.measured_weekly) for c in view.share_candidates] == [
        ("billing.acme.example", 0),
        ("news.acme.example", 14_000),
    ]
    assert view.dedicated_ips_in_use == 0 and view.plan == "premium"


def test_share_candidates_are_the_first_eligible_by_name_past_a_page_of_ineligible_ones(world):
    """An account of many domains: those that may not share come first by name and fill more
    than a page, yet the list shows the first eligible ones after them, and says it is cut."""
    with session_scope(world) as session:
        acme = get_domain(session, "acme.example")
        transactional = [
            Domain(
                name=f"aa{n:03}.acme.example",
                account_id=acme.account_id,
                sending_mode="transactional",
                created_at=clock.now(),
            )
            for n in range(250)
        ]
        shared = [
            Domain(name=f"c{n:03}.acme.example", account_id=acme.account_id, created_at=clock.now())
            for n in range(150)
        ]
        session.add_all(transactional + shared)
    view = ConsoleBackend(world, "alice").domain("acme.example")
    assert [c.name for c in view.share_candidates] == [
        "billing.acme.example",
        *(f"c{n:03}.acme.example" for n in range(99)),
    ]
    assert view.candidates_truncated
    with session_scope(world) as session:
        acme = get_domain(session, "acme.example")
        everyone = filing.dedicated_candidates(session, acme)
        first_three = filing.dedicated_candidates(session, acme, limit=3)
    assert len(everyone) == 1 + 150 + 1 and everyone[-1].name == "news.acme.example"
    assert [d.name for d in first_three] == [
        "billing.acme.example",
        "c000.acme.example",
        "c001.acme.example",
    ]


def test_removed_domain_carries_its_reason(world):
    with session_scope(world) as session:
        pools.remove_domain(session, user(session, "sam"), "acme.example", reason="Bounces at 8%.")
    view = ConsoleBackend(world, "alice").domain("acme.example")
    assert view.status == "removed" and view.removed_reason == "Bounces at 8%."
    assert view.removed_at == clock.now()


def test_dedicated_estimate_applies_the_minimum_and_the_plan(world):
    add_stats(world, "news.acme.example", 7, sent=3_000)
    view = ConsoleBackend(world, "alice").domain("news.acme.example")
    low = dedicated_estimate(view, "40k", "1", [])
    assert not low.eligible and "under the 50,000 minimum" in low.eligibility
    assert "measured recently: 21,000/week" in low.eligibility
    ok = dedicated_estimate(view, "80,000", "4", [])
    assert ok.eligible and ok.monthly_cents == 5_000
    assert ok.cost == "3 of your 3 free Premium IPs left — this request: $50/month"
    bad = dedicated_estimate(view, "many", "0", [])
    assert "not a number of emails" in bad.volume_error
    assert "between 1 and 10" in bad.ip_error


def test_filing_through_the_backend_checks_fields_in_form_order(world):
    backend = ConsoleBackend(world, "alice")
    with pytest.raises(MailpoolsError) as refused:
        backend.file_transactional(
            "acme.example", justification="hi", confirmation="acme.example", acknowledged=True
        )
    assert refused.value.field == "justification"
    with pytest.raises(MailpoolsError) as refused:
        backend.file_transactional(
            "acme.example",
            justification=GOOD_JUSTIFICATION,
            confirmation="acme.example",
            acknowledged=False,
        )
    assert refused.value.field == "acknowledge"
    with pytest.raises(MailpoolsError) as refused:
        backend.file_dedicated("acme.example", weekly_volume="80k", ip_count="two", sharing=[])
    assert refused.value.field == "ips"
    with session_scope(world) as session:
        assert session.exec(select(PoolRequest)).all() == []
    outcome = backend.file_dedicated(
        "acme.example", weekly_volume="80k", ip_count="2", sharing=["news.acme.example"]
    )
    filed = outcome.subject
    assert filed.status == "pending" and filed.ip_count == 2 and filed.monthly_cost_cents == 0
    assert outcome.summary == (
        f"Request #{filed.id} for 2 dedicated IPs for acme.example, news.acme.example "
        "(80,000 emails a week, $0/month) is filed for review."
    )


def test_activity_reads_the_latest_messages_of_one_domain(world):
    now = clock.now()
    with session_scope(world) as session:
        domain_id = get_domain(session, "acme.example").id
        for n in range(60):
            moment = now - timedelta(minutes=n)
            session.add(
                Message(
                    message_id=f"<{n}@acme.example>",
                    domain_id=domain_id,
                    from_addr="shop@acme.example",
                    to_addr=f"c{n}@example.net",
                    kind="transactional",
                    status="sent",
                    created_at=moment,
                    next_attempt_at=moment,
                    last_reply="250 OK",
                    # The newest left over TLS 1.3, the next in clear, the rest before TLS.
                    sent_over_tls={0: True, 1: False}.get(n),
                    tls_version="TLSv1.3" if n == 0 else None,
                )
            )
    activity = ConsoleBackend(world, "alice").activity("acme.example")
    assert [line.tls for line in activity.messages[:3]] == ["TLSv1.3", "none", "—"]
    assert len(activity.messages) == 50
    assert activity.messages[0].to_addr == "c0@example.net"
    assert activity.messages[-1].to_addr == "c49@example.net"
    assert any(event.action == "inventory.domain.create" for event in activity.events)


def test_notifications_after_a_seen_id_are_only_the_accounts_new_ones(world):
    backend = ConsoleBackend(world, "alice")
    assert backend.latest_notification_id() == 0
    with session_scope(world) as session:
        acme = get_domain(session, "acme.example").account_id
        bolt = get_domain(session, "bolt.example").account_id
        notify(session, account_id=acme, kind="warmup_complete", title="Ready")
        notify(session, account_id=bolt, kind="warmup_complete", title="Not alice's")
    [arrived] = backend.notifications_after(0)
    assert arrived.title == "Ready" and not arrived.read
    assert backend.notifications_after(arrived.id) == []
    assert backend.unread_count() == 1
    assert backend.mark_all_read() == 1
    assert backend.unread_count() == 0


def test_notices_name_every_domain_they_cover_and_reading_one_clears_it(world):
    with session_scope(world) as session:
        request = filing.request_dedicated(
            session,
            user(session, "alice"),
            ["news.acme.example", "acme.example"],
            weekly_volume=80_000,
        ).subject
        decisions.approve(session, user(session, "sam"), request.id)
    with session_scope(world) as session:
        warmups.pause_warmup(session, user(session, "sam"), "acme.example")
    backend = ConsoleBackend(world, "alice")
    paused, approved = backend.inbox()
    assert "was approved" in approved.title and "is paused" in paused.title
    assert approved.domains == paused.domains == ["acme.example", "news.acme.example"]
    assert backend.unread_count() == 2
    assert backend.read_notification(approved.id) == 1
    assert backend.read_notification(approved.id) == 1
    assert [n.read for n in backend.inbox()] == [False, True]
    with pytest.raises(NotFound):
        ConsoleBackend(world, "bruno").read_notification(paused.id)


def test_startup_reads_the_first_page_for_owners_only(world):
    owner = ConsoleBackend(world, "alice").startup()
    assert owner.viewer.account == "acme" and owner.home.total == 3
    staff = ConsoleBackend(world, "sam").startup()
    assert staff.viewer.is_staff and staff.home is None
