"""Which sending ways a domain may ask for, decided from plain facts about it.

The Mail Servers tab asks these functions which request forms to offer, and the
filing services ask them before filing, so the tab never offers a request the
service would refuse, nor hides one it would take.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.errors import MailpoolsError


class Obstacle(StrEnum):
    """Why a domain cannot ask for a way of sending; screens may show each differently."""

    NOT_TRANSACTIONAL_SERVICE = "not-transactional-service"
    ALREADY_TRANSACTIONAL = "already-transactional"
    SENDS_DEDICATED = "sends-dedicated"
    SENDS_TRANSACTIONAL = "sends-transactional"
    ALREADY_DEDICATED = "already-dedicated"
    REMOVED = "removed"
    OPEN_REQUEST = "open-request"


@dataclass(frozen=True)
class OpenRequest:
    """The domain's request still waiting for review."""

    id: int
    kind: str


@dataclass(frozen=True)
class DomainStanding:
    """Everything eligibility depends on, read from a domain and its open request."""

    name: str
    mode: str  # shared, transactional or dedicated
    status: str  # active or removed
    transactional_service: bool
    on_dedicated_ips: bool
    open_request: OpenRequest | None = None


@dataclass(frozen=True)
class Refusal:
    """Why the domain cannot ask, as one sentence fit for the owner."""

    obstacle: Obstacle
    message: str


def _open_request_refusal(domain: DomainStanding) -> Refusal | None:
    request = domain.open_request
    if request is None:
        return None
    return Refusal(
        Obstacle.OPEN_REQUEST,
        f"{domain.name} already has an open {request.kind} request (#{request.id}); "
        "wait for its review or ask support to withdraw it.",
    )


def transactional_refusal(domain: DomainStanding) -> Refusal | None:
    """Why DOMAIN may not ask for the transactional pool, or None if it may."""
    if not domain.transactional_service:
        return Refusal(
            Obstacle.NOT_TRANSACTIONAL_SERVICE,
            f"{domain.name} is not used with the transactional service, so it cannot join "
            "the transactional pool.",
        )
    if domain.mode == "transactional":
        return Refusal(
            Obstacle.ALREADY_TRANSACTIONAL, f"{domain.name} is already in the transactional pool."
        )
    if domain.on_dedicated_ips:
        # Exactly one way of sending per domain: leaving dedicated IPs is its own decision.
        return Refusal(
            Obstacle.SENDS_DEDICATED,
            f"{domain.name} sends from dedicated IPs; ask support to take it off them "
            "before it can join the transactional pool.",
        )
    return _open_request_refusal(domain)


def dedicated_refusal(domain: DomainStanding) -> Refusal | None:
    """Why DOMAIN may not ask for dedicated IPs (new ones or the account's), or None if it may."""
    if domain.mode == "transactional":
        return Refusal(
            Obstacle.SENDS_TRANSACTIONAL,
            f"{domain.name} sends from the transactional pool; it cannot also use dedicated IPs.",
        )
    if domain.on_dedicated_ips:
        return Refusal(Obstacle.ALREADY_DEDICATED, f"{domain.name} already uses dedicated IPs.")
    open_request = _open_request_refusal(domain)
    if open_request is not None:
        return open_request
    if domain.status == "removed":
        return Refusal(
            Obstacle.REMOVED,
            f"{domain.name} is removed from its pool; it cannot move to dedicated IPs "
            "until support reinstates it.",
        )
    return None


def check_transactional(domain: DomainStanding) -> None:
    refusal = transactional_refusal(domain)
    if refusal is not None:
        raise MailpoolsError(refusal.message)


def check_dedicated(domain: DomainStanding) -> None:
    refusal = dedicated_refusal(domain)
    if refusal is not None:
        raise MailpoolsError(refusal.message, field="domains")
