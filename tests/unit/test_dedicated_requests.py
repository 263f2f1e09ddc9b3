"""Dedicated-IP requests: volume, number of IPs, the price, and what approval allocates."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app import clock, settings
from app.errors import MailpoolsError, NotFound
from app.rules.warmup_plan import planned_days
from app.services.lookups import get_account, get_domain, get_ip
from app.services.requests import allocation, decisions, filing, listing
from app.settings import Settings
from data.db import session_scope
from data.models import (
    AuditEvent,
    IpAddress,
    Notification,
    Pool,
    PoolRequest,
    RequestStatus,
    Warmup,
)
from tests.database_state import database_state
from tests.factories import build_world, record_domain_day, user

FREE_IPS = ["127.0.0.20", "127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24", "127.0.0.25"]


@pytest.fixture
def world(engine):
    build_world(engine)
    return engine


def file_dedicated(engine, domains, *, by="alice", volume=80_000, ips=1, join_pool=None) -> int:
    with session_scope(engine) as session:
        request = filing.request_dedicated(
            session,
            user(session, by),
            domains,
            weekly_volume=volume,
            ip_count=ips,
            join_pool=join_pool,
        ).subject
        return request.id


def approve(engine, request_id, *, by="sam", ip_addresses=None):
    with session_scope(engine) as session:
        decisions.approve(session, user(session, by), request_id, ip_addresses=ip_addresses)


def deny(engine, request_id, *, by="sam", reason="Not enough sending history yet."):
    with session_scope(engine) as session:
        decisions.deny(session, user(session, by), request_id, reason=reason)


def refused_without_change(engine, action, *, match=None, error=MailpoolsError):
    before = database_state(engine)
    with pytest.raises(error, match=match) as refused:
        action()
    assert database_state(engine) == before
    return refused.value


def stored(engine, request_id) -> PoolRequest:
    with Session(engine) as session:
        return session.get(PoolRequest, request_id)


# Filing.


def test_request_stores_volume_ips_and_quote(world):
    request_id = file_dedicated(world, ["acme.example"], volume="80k", ips=2)
    request = stored(world, request_id)
    assert request.status == RequestStatus.PENDING
    assert (request.expected_weekly_volume, request.ip_count) == (80_000, 2)
    assert request.monthly_cost_cents == 0  # Premium: within the three free IPs
    with Session(world) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "request.dedicated.file")
        ).one()
        assert event.actor == "alice"
        assert json.loads(event.after)["monthly_cost_cents"] == 0


def test_volume_below_the_minimum_is_refused(world):
    refused = refused_without_change(
        world,
        lambda: file_dedicated(world, ["acme.example"], volume=49_999),
        match="at least 50,000 emails a week",
    )
    assert refused.field == "volume"


def test_the_minimum_itself_is_enough(world):
    assert (
        stored(world, file_dedicated(world, ["acme.example"], volume="50,000")).status == "pending"
    )


def test_unreadable_volume_is_refused_on_the_volume_field(world):
    refused = refused_without_change(
        world, lambda: file_dedicated(world, ["acme.example"], volume="lots"), match="lots"
    )
    assert refused.field == "volume"


@pytest.mark.parametrize("ips", [0, -1, 11])
def test_ip_count_must_be_between_one_and_ten(world, ips):
    refused = refused_without_change(
        world, lambda: file_dedicated(world, ["acme.example"], ips=ips), match="between 1 and 10"
    )
    assert refused.field == "ips"


def test_ip_count_limit_is_configurable(world):
    with settings.in_force(Settings(max_ips_per_request=2)):
        refused_without_change(
            world, lambda: file_dedicated(world, ["acme.example"], ips=3), match="between 1 and 2"
        )
        file_dedicated(world, ["acme.example"], ips=2)


def test_one_request_covers_several_domains_of_one_account(world):
    request_id = file_dedicated(world, ["acme.example", "news.acme.example", "acme.example"])
    with Session(world) as session:
        request = session.get(PoolRequest, request_id)
        names = [d.name for d in listing.request_domains(session, request)]
    assert names == ["acme.example", "news.acme.example"]


def test_domains_of_two_accounts_are_refused_even_for_an_agent(world):
    refused = refused_without_change(
        world,
        lambda: file_dedicated(world, ["acme.example", "bolt.example"], by="sam"),
        match="must belong to the same account",
    )
    assert refused.field == "domains"


def test_an_owner_cannot_add_another_accounts_domain(world):
    refused_without_change(
        world,
        lambda: file_dedicated(world, ["acme.example", "bolt.example"]),
        match="^There is no sending domain named 'bolt.example'.$",
        error=NotFound,
    )


def test_no_domains_is_refused(world):
    refused = refused_without_change(
        world, lambda: file_dedicated(world, []), match="at least one domain"
    )
    assert refused.field == "domains"


def test_a_domain_with_an_open_request_is_refused(world):
    first = file_dedicated(world, ["acme.example"])
    refused_without_change(
        world,
        lambda: file_dedicated(world, ["news.acme.example", "acme.example"]),
        match=f"already has an open dedicated request \\(#{first}\\)",
    )


def test_premium_quote_counts_ips_owned_and_pending(world):
    assert stored(world, file_dedicated(world, ["acme.example"], ips=2)).monthly_cost_cents == 0
    # Two already asked for: one more free, one at $50.
    second = file_dedicated(world, ["news.acme.example"], ips=2)
    assert stored(world, second).monthly_cost_cents == 50_00


def test_standard_quote_is_fifty_dollars_each(world):
    request_id = file_dedicated(world, ["bolt.example"], by="bruno", ips=3)
    assert stored(world, request_id).monthly_cost_cents == 150_00


def test_quote_for_account_matches_the_stored_quote(world):
    with Session(world) as session:
        quote = filing.quote_for_account(session, get_account(session, "acme"), 4)
    assert (quote.free_ips, quote.paid_ips, quote.monthly_cents) == (3, 1, 50_00)
    assert stored(world, file_dedicated(world, ["acme.example"], ips=4)).monthly_cost_cents == 50_00


# Approval.


def test_approval_allocates_free_ips_creates_the_pool_and_starts_a_warmup(world):
    request_id = file_dedicated(world, ["acme.example", "news.acme.example"], volume=120_000, ips=2)
    approve(world, request_id)
    with Session(world) as session:
        acme = get_account(session, "acme")
        pool = session.exec(select(Pool).where(Pool.account_id == acme.id)).one()
        assert pool.kind == "dedicated"
        ips = session.exec(select(IpAddress).where(IpAddress.pool_id == pool.id)).all()
        assert sorted(ip.address for ip in ips) == FREE_IPS[:2]
        assert all(ip.account_id == acme.id and ip.state == "warming" for ip in ips)
        for name in ("acme.example", "news.acme.example"):
            domain = get_domain(session, name)
            assert domain.sending_mode == "dedicated"
            assert domain.dedicated_pool_id == pool.id
            assert domain.shared_pool_id is not None  # still warms up beside its shared pool
        assert get_domain(session, "billing.acme.example").sending_mode == "shared"
        warmup = session.exec(select(Warmup).where(Warmup.pool_id == pool.id)).one()
        assert warmup.request_id == request_id
        assert warmup.started_on == clock.today()
        assert warmup.planned_days == planned_days(120_000)
        assert 30 <= warmup.planned_days <= 45
        assert (warmup.current_day, warmup.state) == (1, "running")
        request = session.get(PoolRequest, request_id)
        assert request.status == "approved"
        assert request.dedicated_pool_id == pool.id
        notification = session.exec(
            select(Notification).where(Notification.kind == "request_approved")
        ).one()
        assert notification.account_id == acme.id
        assert "127.0.0.20" in notification.body
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "request.dedicated.approve")
        ).one()
        assert event.actor == "sam"
        assert json.loads(event.after)["ips"] == FREE_IPS[:2]


def test_an_agent_may_choose_which_free_ips(world):
    request_id = file_dedicated(world, ["acme.example"], ips=2)
    approve(world, request_id, ip_addresses=["127.0.0.25", "127.0.0.22"])
    with Session(world) as session:
        acme = get_account(session, "acme")
        for address in ("127.0.0.25", "127.0.0.22"):
            assert get_ip(session, address).account_id == acme.id
        assert get_ip(session, "127.0.0.20").account_id is None


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        (["127.0.0.20"], r"Choose exactly 2 IPs for request #\d+; 1 is chosen"),
        (["127.0.0.20", "127.0.0.20"], r"Choose exactly 2 IPs for request #\d+; 1 is chosen"),
        ([], r"Choose exactly 2 IPs for request #\d+; 0 are chosen"),
        (["127.0.0.20", "127.0.0.2"], "Not in the free dedicated inventory: 127.0.0.2"),
        (["127.0.0.20", "10.9.9.9"], "Not in the free dedicated inventory: 10.9.9.9"),
    ],
)
def test_a_bad_choice_of_ips_is_refused_and_the_request_stays_pending(world, chosen, message):
    request_id = file_dedicated(world, ["acme.example"], ips=2)
    refused = refused_without_change(
        world, lambda: approve(world, request_id, ip_addresses=chosen), match=message
    )
    assert refused.field == "ips"
    assert stored(world, request_id).status == "pending"


def test_ips_owned_by_another_account_are_not_free(world):
    approve(world, file_dedicated(world, ["bolt.example"], by="bruno"))
    request_id = file_dedicated(world, ["acme.example"])
    refused_without_change(
        world,
        lambda: approve(world, request_id, ip_addresses=["127.0.0.20"]),
        match="Not in the free dedicated inventory: 127.0.0.20",
    )
    approve(world, request_id)
    with Session(world) as session:
        assert get_ip(session, "127.0.0.21").account_id == get_account(session, "acme").id


def test_paused_and_blocklisted_ips_are_not_handed_out(world):
    with session_scope(world) as session:
        get_ip(session, "127.0.0.20").state = "blocklisted"
        get_ip(session, "127.0.0.21").state = "paused"
    with Session(world) as session:
        free = [ip.address for ip in allocation.free_dedicated_ips(session)]
    assert free == FREE_IPS[2:]


def test_not_enough_free_ips_is_a_clear_error_that_changes_nothing(world):
    request_id = file_dedicated(world, ["acme.example"], ips=7)
    refused_without_change(
        world,
        lambda: approve(world, request_id),
        match=f"Only 6 free dedicated IPs are left and request #{request_id} needs 7",
    )
    assert stored(world, request_id).status == "pending"
    # The same request can still be denied once the agent knows.
    deny(world, request_id)


def test_two_approvals_get_different_ips(world):
    approve(world, file_dedicated(world, ["acme.example"], ips=3))
    approve(world, file_dedicated(world, ["bolt.example"], by="bruno", ips=3))
    with Session(world) as session:
        owners = {ip.address: ip.account_id for ip in session.exec(select(IpAddress))}
        acme, bolt = get_account(session, "acme").id, get_account(session, "bolt").id
    assert [a for a in FREE_IPS if owners[a] == acme] == FREE_IPS[:3]
    assert [a for a in FREE_IPS if owners[a] == bolt] == FREE_IPS[3:]


def test_a_second_group_for_the_same_account_is_a_new_pool(world):
    approve(world, file_dedicated(world, ["acme.example"]))
    approve(world, file_dedicated(world, ["news.acme.example"]))
    with Session(world) as session:
        acme = get_account(session, "acme")
        names = sorted(p.name for p in session.exec(select(Pool).where(Pool.account_id == acme.id)))
    assert names == ["acme-dedicated-1", "acme-dedicated-2"]


def test_approval_settles_the_price_on_what_the_account_owns(world):
    """A pending request counted in a quote but then denied does not make a later one pay."""
    first = file_dedicated(world, ["acme.example"], ips=3)
    second = file_dedicated(world, ["news.acme.example"], ips=1)
    assert stored(world, second).monthly_cost_cents == 50_00
    deny(world, first)
    approve(world, second)
    assert stored(world, second).monthly_cost_cents == 0
    with Session(world) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "request.dedicated.approve")
        ).one()
        after = json.loads(event.after)
        assert (after["quoted_monthly_cost_cents"], after["monthly_cost_cents"]) == (50_00, 0)


ACCOUNT_DOMAINS = {
    "acme": ("alice", ["acme.example", "news.acme.example", "billing.acme.example"]),
    "bolt": ("bruno", ["bolt.example", "offers.bolt.example"]),
}


@pytest.mark.parametrize(
    ("account", "sizes", "verdicts"),
    [
        ("acme", [2, 2, 1], ["approve", "approve", "approve"]),
        ("acme", [1, 3, 1], ["approve", "deny", "approve"]),
        ("acme", [3, 1, 2], ["deny", "approve", "approve"]),
        ("acme", [1, 1, 1], ["approve", "approve", "deny"]),
        ("bolt", [2, 1], ["approve", "approve"]),
        ("bolt", [1, 2], ["deny", "approve"]),
    ],
)
def test_approved_prices_add_up_to_the_accounts_bill(world, account, sizes, verdicts):
    owner, domains = ACCOUNT_DOMAINS[account]
    requests = [
        file_dedicated(world, [domain], by=owner, ips=size)
        for domain, size in zip(domains, sizes, strict=False)
    ]
    for request_id, decision in zip(requests, verdicts, strict=True):
        (approve if decision == "approve" else deny)(world, request_id)
    owned = sum(size for size, d in zip(sizes, verdicts, strict=True) if d == "approve")
    free = min(owned, 3) if account == "acme" else 0
    billed = sum(
        stored(world, r).monthly_cost_cents
        for r, d in zip(requests, verdicts, strict=True)
        if d == "approve"
    )
    assert billed == 50_00 * (owned - free)


# Joining the account's existing dedicated IPs.


def dedicated_pool_of(engine, account="acme") -> str:
    with Session(engine) as session:
        return session.exec(
            select(Pool.name).where(Pool.account_id == get_account(session, account).id)
        ).one()


def test_joining_counts_the_volume_of_domains_already_on_the_ips(world):
    approve(world, file_dedicated(world, ["acme.example"]))
    pool = dedicated_pool_of(world)
    # Alone, 10,000 a week is far below the minimum ...
    refused_without_change(
        world,
        lambda: file_dedicated(world, ["billing.acme.example"], volume=10_000, join_pool=pool),
        match="at least 50,000",
    )
    # ... but acme.example already sends 45,000 a week on them.
    for offset in range(3):
        record_domain_day(
            world, "acme.example", clock.today() - timedelta(days=offset), sent=15_000
        )
    request_id = file_dedicated(world, ["billing.acme.example"], volume=10_000, join_pool=pool)
    request = stored(world, request_id)
    assert (request.ip_count, request.monthly_cost_cents) == (0, 0)
    approve(world, request_id)
    with Session(world) as session:
        billing = get_domain(session, "billing.acme.example")
        assert billing.sending_mode == "dedicated"
        assert session.get(Pool, billing.dedicated_pool_id).name == pool
        # No new IPs and no new warm-up for a join.
        assert len(session.exec(select(Warmup)).all()) == 1
        assert (
            len(session.exec(select(IpAddress).where(IpAddress.account_id.is_not(None))).all()) == 1
        )


def test_history_older_than_a_week_does_not_count_for_a_join(world):
    approve(world, file_dedicated(world, ["acme.example"]))
    record_domain_day(world, "acme.example", clock.today() - timedelta(days=7), sent=100_000)
    refused_without_change(
        world,
        lambda: file_dedicated(
            world, ["billing.acme.example"], volume=10_000, join_pool=dedicated_pool_of(world)
        ),
        match="at least 50,000",
    )


def test_joining_another_accounts_ips_is_refused(world):
    approve(world, file_dedicated(world, ["bolt.example"], by="bruno"))
    bolt_pool = dedicated_pool_of(world, "bolt")
    refused = refused_without_change(
        world,
        lambda: file_dedicated(world, ["acme.example"], join_pool=bolt_pool),
        match=f"'{bolt_pool}' is not one of acme's dedicated IP groups",
    )
    assert refused.field == "pool"
    refused_without_change(
        world,
        lambda: file_dedicated(world, ["acme.example"], join_pool="shared-a"),
        match="'shared-a' is not one of acme's dedicated IP groups",
    )


def test_a_domain_already_on_dedicated_ips_cannot_ask_again(world):
    approve(world, file_dedicated(world, ["acme.example"]))
    refused_without_change(
        world,
        lambda: file_dedicated(world, ["acme.example"]),
        match="acme.example already uses dedicated IPs",
    )


def test_a_transactional_domain_cannot_ask_for_dedicated_ips(world):
    with session_scope(world) as session:
        request = filing.request_transactional(
            session,
            user(session, "alice"),
            "acme.example",
            justification="Password resets and order receipts for customers of our shop.",
            confirmation="acme.example",
        ).subject
        request_id = request.id
    approve(world, request_id)
    refused_without_change(
        world,
        lambda: file_dedicated(world, ["acme.example"]),
        match="sends from the transactional pool",
    )
