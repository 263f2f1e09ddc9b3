"""Which pool and which IP a message leaves from: a pure function.

`route_message` reads only plain snapshots (the message, its domain, the pools
with their IPs, the warm-ups) and the clock, never the database, so the rules
can be checked by unit and property tests without a server:

- a domain removed from its pool: the message is held until an agent reinstates it;
- a domain in the transactional pool: transactional messages go through that
  pool; a campaign or broadcast is rejected with the reason and never sent;
- a domain on dedicated IPs whose warm-up is complete (or that has no warm-up):
  the dedicated IPs only;
- a domain on dedicated IPs that are warming: the dedicated IPs or the domain's
  shared pool, chosen per message by a hash of its Message-ID against the plan
  day's dedicated share, so the observed share follows the plan;
- otherwise the domain's shared pool.

Within a pool the IP is a weighted choice, again from a hash of the
Message-ID, among the IPs that are neither paused nor blocklisted: each IP gets
its weight's share of the messages. A message whose pool has no usable IP, or
whose chosen IP is not bound on the sending host, is deferred: it is never sent
from another pool's IPs or from an address its route did not choose.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from app.rules import policy
from app.rules.warmup_plan import dedicated_share
from data.models import DomainStatus, IpState, SendingMode, WarmupState

# How long a message waits before a new try when its route has no IP to use.
NO_IP_RETRY = timedelta(minutes=5)
USABLE_IP_STATES = frozenset({IpState.ACTIVE, IpState.WARMING})

SPLIT_KEY = b"warmup-split"
IP_KEY = b"ip-choice"
_HASH_SPACE = float(1 << 64)


@dataclass(frozen=True, slots=True)
class RoutingMessage:
    id: int
    message_id: str
    domain_id: int
    kind: str


@dataclass(frozen=True, slots=True)
class RoutingDomain:
    id: int
    name: str
    status: str
    sending_mode: str
    shared_pool_id: int | None
    transactional_pool_id: int | None
    dedicated_pool_id: int | None
    removed_reason: str | None = None


@dataclass(frozen=True, slots=True)
class RoutingIp:
    id: int
    address: str
    hostname: str
    state: str
    weight: int
    # Whether this host can bind the address; None means not checked yet (treated as bound).
    bound: bool | None = True


@dataclass(frozen=True, slots=True)
class RoutingPool:
    id: int
    name: str
    kind: str
    ips: tuple[RoutingIp, ...]


@dataclass(frozen=True, slots=True)
class RoutingWarmup:
    pool_id: int
    state: str
    current_day: int
    planned_days: int

    @property
    def share(self) -> float:
        if self.state == WarmupState.COMPLETE:
            return 1.0
        return dedicated_share(self.current_day, self.planned_days)


def sending_pool_id(domain) -> int | None:
    """The pool whose IPs and thresholds apply to the domain's chosen way of sending.

    DOMAIN is anything with the domain's fields: a Domain row or a RoutingDomain.
    """
    if domain.sending_mode == SendingMode.TRANSACTIONAL:
        return domain.transactional_pool_id
    if domain.sending_mode == SendingMode.DEDICATED:
        return domain.dedicated_pool_id
    return domain.shared_pool_id


class Action(StrEnum):
    SEND = "send"
    DEFER = "defer"
    HOLD = "hold"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Route:
    action: Action
    pool_id: int | None = None
    ip: RoutingIp | None = None
    reason: str | None = None
    # For a deferral: the earliest moment worth trying again.
    retry_at: datetime | None = None


def unit_hash(message_id: str, key: bytes) -> float:
    """A number in [0, 1) fixed by the Message-ID; KEY makes independent draws."""
    digest = hashlib.blake2b(message_id.encode(), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "big") / _HASH_SPACE


def goes_to_dedicated(message_id: str, share: float) -> bool:
    return unit_hash(message_id, SPLIT_KEY) < share


def usable_ips(pool: RoutingPool) -> list[RoutingIp]:
    return [ip for ip in pool.ips if ip.state in USABLE_IP_STATES and ip.weight > 0]


def choose_ip(pool: RoutingPool, message_id: str) -> RoutingIp | None:
    """The pool's IP for this message, in proportion to the weights; None if none is usable."""
    candidates = usable_ips(pool)
    if not candidates:
        return None
    cumulative = []
    total = 0
    for ip in candidates:
        total += ip.weight
        cumulative.append(total)
    point = unit_hash(message_id, IP_KEY) * total
    return candidates[bisect.bisect_right(cumulative, point)]


def _through_pool(
    pool: RoutingPool | None, message: RoutingMessage, now: datetime, missing: str
) -> Route:
    if pool is None:
        return Route(Action.DEFER, reason=missing, retry_at=now + NO_IP_RETRY)
    ip = choose_ip(pool, message.message_id)
    if ip is None:
        return Route(
            Action.DEFER,
            pool_id=pool.id,
            reason=f"pool {pool.name} has no usable IP (all paused or blocklisted)",
            retry_at=now + NO_IP_RETRY,
        )
    if ip.bound is False:
        return Route(
            Action.DEFER,
            pool_id=pool.id,
            ip=ip,
            reason=f"IP {ip.address} of pool {pool.name} is not bound on this host",
            retry_at=now + NO_IP_RETRY,
        )
    return Route(Action.SEND, pool_id=pool.id, ip=ip)


def route_message(
    message: RoutingMessage,
    domain: RoutingDomain,
    pools: Mapping[int, RoutingPool],
    warmups: Mapping[int, RoutingWarmup],
    now: datetime,
) -> Route:
    """Where MESSAGE goes now. WARMUPS is keyed by the dedicated pool's id."""
    if domain.status == DomainStatus.REMOVED:
        reason = f"{domain.name} is removed from its pool"
        if domain.removed_reason:
            reason += f": {domain.removed_reason}"
        return Route(Action.HOLD, reason=reason)

    refusal = policy.refusal_for_kind(domain.sending_mode, message.kind, domain.name)
    if refusal:
        return Route(Action.REJECT, reason=refusal)

    shared = pools.get(domain.shared_pool_id) if domain.shared_pool_id is not None else None
    if domain.sending_mode == SendingMode.TRANSACTIONAL:
        pool = pools.get(domain.transactional_pool_id) if domain.transactional_pool_id else None
        return _through_pool(pool, message, now, f"{domain.name} has no transactional pool")

    if domain.sending_mode == SendingMode.DEDICATED and domain.dedicated_pool_id is not None:
        dedicated = pools.get(domain.dedicated_pool_id)
        warmup = warmups.get(domain.dedicated_pool_id)
        if warmup is None or goes_to_dedicated(message.message_id, warmup.share):
            return _through_pool(dedicated, message, now, f"{domain.name} has no dedicated pool")
        return _through_pool(shared, message, now, f"{domain.name} has no shared pool")

    return _through_pool(shared, message, now, f"{domain.name} has no shared pool")
