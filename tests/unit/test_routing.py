"""Routing rules and their invariants, on plain snapshots (no database, no network)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.rules.routing import (
    SPLIT_KEY,
    Action,
    RoutingDomain,
    RoutingIp,
    RoutingMessage,
    RoutingPool,
    RoutingWarmup,
    choose_ip,
    route_message,
    unit_hash,
)
from app.rules.warmup_plan import dedicated_share
from data.models import DomainStatus, IpState, MessageKind, SendingMode, WarmupState

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SAMPLE = 10_000


def ip(
    ip_id: int, weight: int = 1, state: str = IpState.ACTIVE, bound: bool | None = True
) -> RoutingIp:
    return RoutingIp(ip_id, f"127.0.0.{ip_id}", f"mta{ip_id}.test", state, weight, bound)


SHARED = RoutingPool(1, "shared-a", "shared", (ip(2), ip(3, weight=2)))
TRANSACTIONAL = RoutingPool(2, "transactional", "transactional", (ip(6), ip(7)))
DEDICATED = RoutingPool(3, "acme-dedicated-1", "dedicated", (ip(20, state=IpState.WARMING),))
OTHER_SHARED = RoutingPool(4, "shared-b", "shared", (ip(4), ip(5)))
POOLS = {pool.id: pool for pool in (SHARED, TRANSACTIONAL, DEDICATED, OTHER_SHARED)}


def domain(**changes) -> RoutingDomain:
    values = dict(
        id=1,
        name="acme.example",
        status=DomainStatus.ACTIVE,
        sending_mode=SendingMode.SHARED,
        shared_pool_id=SHARED.id,
        transactional_pool_id=None,
        dedicated_pool_id=None,
    )
    values.update(changes)
    return RoutingDomain(**values)


def message(kind: str = MessageKind.TRANSACTIONAL, message_id: str | None = None) -> RoutingMessage:
    return RoutingMessage(1, message_id or f"<{uuid.uuid4().hex}@acme.example>", 1, kind)


def messages(count: int, kind: str = MessageKind.CAMPAIGN) -> list[RoutingMessage]:
    # Message-IDs as the outbox makes them, but reproducible.
    return [RoutingMessage(n, f"<{n:032x}@acme.example>", 1, kind) for n in range(count)]


def test_a_shared_domain_sends_from_its_shared_pool():
    route = route_message(message(), domain(), POOLS, {}, NOW)
    assert route.action == Action.SEND
    assert route.pool_id == SHARED.id
    assert route.ip in SHARED.ips


def test_a_removed_domain_is_held_with_the_reason():
    removed = domain(status=DomainStatus.REMOVED, removed_reason="Bounce rate 9%.")
    route = route_message(message(), removed, POOLS, {}, NOW)
    assert route.action == Action.HOLD
    assert "Bounce rate 9%." in route.reason


def test_a_transactional_domain_sends_transactional_mail_through_its_pool():
    transactional = domain(
        sending_mode=SendingMode.TRANSACTIONAL, transactional_pool_id=TRANSACTIONAL.id
    )
    route = route_message(message(), transactional, POOLS, {}, NOW)
    assert (route.action, route.pool_id) == (Action.SEND, TRANSACTIONAL.id)


@pytest.mark.parametrize("kind", [MessageKind.CAMPAIGN, MessageKind.BROADCAST])
def test_a_transactional_domain_rejects_campaigns_and_broadcasts(kind):
    transactional = domain(
        sending_mode=SendingMode.TRANSACTIONAL, transactional_pool_id=TRANSACTIONAL.id
    )
    route = route_message(message(kind), transactional, POOLS, {}, NOW)
    assert route.action == Action.REJECT
    assert "transactional pool" in route.reason and kind in route.reason
    assert route.ip is None


def dedicated_domain() -> RoutingDomain:
    return domain(sending_mode=SendingMode.DEDICATED, dedicated_pool_id=DEDICATED.id)


def test_a_completed_warmup_sends_everything_from_the_dedicated_ips():
    warmups = {DEDICATED.id: RoutingWarmup(DEDICATED.id, WarmupState.COMPLETE, 12, 45)}
    routes = [route_message(m, dedicated_domain(), POOLS, warmups, NOW) for m in messages(2_000)]
    assert {route.pool_id for route in routes} == {DEDICATED.id}


def test_a_paused_warmup_keeps_its_current_share():
    warmups = {DEDICATED.id: RoutingWarmup(DEDICATED.id, WarmupState.PAUSED, 20, 45)}
    routes = [route_message(m, dedicated_domain(), POOLS, warmups, NOW) for m in messages(SAMPLE)]
    observed = sum(route.pool_id == DEDICATED.id for route in routes) / SAMPLE
    assert abs(observed - dedicated_share(20, 45)) <= 0.02


@settings(max_examples=12, deadline=None)
@given(planned=st.integers(30, 45), data=st.data())
def test_the_warming_split_matches_the_plan_share_within_two_points(planned, data):
    day = data.draw(st.integers(1, planned))
    warmups = {DEDICATED.id: RoutingWarmup(DEDICATED.id, WarmupState.RUNNING, day, planned)}
    routes = [route_message(m, dedicated_domain(), POOLS, warmups, NOW) for m in messages(SAMPLE)]
    pools = Counter(route.pool_id for route in routes)
    # Only the domain's own two pools, never another.
    assert set(pools) <= {DEDICATED.id, SHARED.id}
    assert abs(pools[DEDICATED.id] / SAMPLE - dedicated_share(day, planned)) <= 0.02


def test_every_plan_day_of_every_plan_length_matches_within_two_points():
    # The hash of a fixed set of Message-IDs is fixed, so this covers every case exactly.
    draws = [unit_hash(m.message_id, SPLIT_KEY) for m in messages(SAMPLE)]
    for planned in range(30, 46):
        for day in range(1, planned + 1):
            share = dedicated_share(day, planned)
            observed = sum(draw < share for draw in draws) / SAMPLE
            assert abs(observed - share) <= 0.02, (planned, day)


def test_the_split_is_deterministic_per_message():
    warmups = {DEDICATED.id: RoutingWarmup(DEDICATED.id, WarmupState.RUNNING, 10, 45)}
    for m in messages(200):
        first = route_message(m, dedicated_domain(), POOLS, warmups, NOW)
        again = route_message(m, dedicated_domain(), POOLS, warmups, NOW)
        assert first == again


def test_weights_one_two_three_get_a_sixth_two_sixths_and_three_sixths():
    pool = RoutingPool(9, "weighted", "shared", (ip(2, 1), ip(3, 2), ip(4, 3)))
    chosen = Counter(choose_ip(pool, m.message_id).id for m in messages(SAMPLE))
    for ip_id, weight in ((2, 1), (3, 2), (4, 3)):
        assert abs(chosen[ip_id] / SAMPLE - weight / 6) <= 0.02


@settings(max_examples=25, deadline=None)
@given(
    weights=st.lists(st.integers(0, 9), min_size=1, max_size=5),
    states=st.lists(st.sampled_from(list(IpState)), min_size=5, max_size=5),
)
def test_the_weighted_choice_is_proportional_among_usable_ips_only(weights, states):
    ips = tuple(ip(10 + n, weight, states[n]) for n, weight in enumerate(weights))
    pool = RoutingPool(9, "weighted", "shared", ips)
    usable = {
        i.id: i.weight for i in ips if i.state in (IpState.ACTIVE, IpState.WARMING) and i.weight > 0
    }
    sample = SAMPLE
    chosen = Counter()
    for m in messages(sample):
        picked = choose_ip(pool, m.message_id)
        if not usable:
            assert picked is None
            continue
        assert picked.id in usable
        chosen[picked.id] += 1
    total = sum(usable.values())
    for ip_id, weight in usable.items():
        # Six standard deviations at 10,000 draws, so random weights cannot make it flaky.
        assert abs(chosen[ip_id] / sample - weight / total) <= 0.03


@pytest.mark.parametrize("state", [IpState.PAUSED, IpState.BLOCKLISTED])
def test_a_pool_without_usable_ips_defers_and_never_borrows_another_pools_ips(state):
    dead = RoutingPool(1, "shared-a", "shared", (ip(2, state=state), ip(3, state=state)))
    pools = dict(POOLS) | {1: dead}
    route = route_message(message(), domain(), pools, {}, NOW)
    assert route.action == Action.DEFER
    assert route.ip is None and route.retry_at > NOW
    assert "no usable IP" in route.reason


def test_an_unbound_ip_defers_its_messages_instead_of_using_another_address():
    pool = RoutingPool(1, "shared-a", "shared", (ip(2, bound=False),))
    route = route_message(message(), domain(), dict(POOLS) | {1: pool}, {}, NOW)
    assert route.action == Action.DEFER
    assert "not bound" in route.reason


kinds = st.sampled_from(list(MessageKind))
modes = st.sampled_from(list(SendingMode))
statuses = st.sampled_from(list(DomainStatus))
ip_states = st.sampled_from(list(IpState))


@settings(max_examples=300, deadline=None)
@given(
    kind=kinds,
    mode=modes,
    status=statuses,
    shared_state=ip_states,
    dedicated_state=ip_states,
    warmup_state=st.sampled_from([None, *WarmupState]),
    day=st.integers(1, 60),
    message_id=st.text(min_size=1, max_size=40),
)
def test_routing_invariants(
    kind, mode, status, shared_state, dedicated_state, warmup_state, day, message_id
):
    shared = RoutingPool(1, "shared-a", "shared", (ip(2, state=shared_state), ip(3)))
    dedicated = RoutingPool(3, "d", "dedicated", (ip(20, state=dedicated_state),))
    pools = {1: shared, 2: TRANSACTIONAL, 3: dedicated, 4: OTHER_SHARED}
    warmups = {3: RoutingWarmup(3, warmup_state, day, 45)} if warmup_state else {}
    the_domain = domain(
        status=status,
        sending_mode=mode,
        transactional_pool_id=2 if mode == SendingMode.TRANSACTIONAL else None,
        dedicated_pool_id=3 if mode == SendingMode.DEDICATED else None,
    )
    route = route_message(RoutingMessage(1, message_id, 1, kind), the_domain, pools, warmups, NOW)

    if status == DomainStatus.REMOVED:
        assert route.action == Action.HOLD
        return
    if mode == SendingMode.TRANSACTIONAL and kind != MessageKind.TRANSACTIONAL:
        assert route.action == Action.REJECT
        return
    allowed = {
        SendingMode.SHARED: {1},
        SendingMode.TRANSACTIONAL: {2},
        SendingMode.DEDICATED: {3} if warmup_state in (None, WarmupState.COMPLETE) else {1, 3},
    }[mode]
    # A message never leaves through a pool that is not its domain's.
    assert route.pool_id in allowed
    if route.action == Action.SEND:
        assert route.ip in pools[route.pool_id].ips
        assert route.ip.state in (IpState.ACTIVE, IpState.WARMING)
    else:
        assert route.action == Action.DEFER
        assert all(
            i.state not in (IpState.ACTIVE, IpState.WARMING) for i in pools[route.pool_id].ips
        )
