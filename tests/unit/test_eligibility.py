"""Which sending ways a domain may ask for, decided without the database."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.errors import MailpoolsError
from app.rules.eligibility import (
    DomainStanding,
    Obstacle,
    OpenRequest,
    check_dedicated,
    check_transactional,
    dedicated_refusal,
    transactional_refusal,
)

SHARED = DomainStanding(
    name="acme.example",
    mode="shared",
    status="active",
    transactional_service=True,
    on_dedicated_ips=False,
)


def obstacle(refusal) -> Obstacle | None:
    return refusal.obstacle if refusal else None


def test_a_shared_domain_of_the_transactional_service_may_ask_for_either_way():
    assert transactional_refusal(SHARED) is None
    assert dedicated_refusal(SHARED) is None
    check_transactional(SHARED)
    check_dedicated(SHARED)


@pytest.mark.parametrize(
    ("changes", "transactional", "dedicated"),
    [
        ({"transactional_service": False}, Obstacle.NOT_TRANSACTIONAL_SERVICE, None),
        ({"mode": "transactional"}, Obstacle.ALREADY_TRANSACTIONAL, Obstacle.SENDS_TRANSACTIONAL),
        (
            {"mode": "dedicated", "on_dedicated_ips": True},
            Obstacle.SENDS_DEDICATED,
            Obstacle.ALREADY_DEDICATED,
        ),
        ({"status": "removed"}, None, Obstacle.REMOVED),
        (
            {"open_request": OpenRequest(7, "dedicated")},
            Obstacle.OPEN_REQUEST,
            Obstacle.OPEN_REQUEST,
        ),
        (
            {"transactional_service": False, "open_request": OpenRequest(7, "dedicated")},
            Obstacle.NOT_TRANSACTIONAL_SERVICE,
            Obstacle.OPEN_REQUEST,
        ),
    ],
)
def test_each_obstacle_refuses_the_ways_it_concerns(changes, transactional, dedicated):
    standing = replace(SHARED, **changes)
    assert obstacle(transactional_refusal(standing)) == transactional
    assert obstacle(dedicated_refusal(standing)) == dedicated


def test_refusals_are_raised_with_the_same_sentence_and_dedicated_ones_by_the_domains_field():
    removed = replace(SHARED, status="removed")
    with pytest.raises(MailpoolsError) as raised:
        check_dedicated(removed)
    assert raised.value.message == dedicated_refusal(removed).message
    assert raised.value.field == "domains"
    assert "until support reinstates it" in raised.value.message
    waiting = replace(SHARED, open_request=OpenRequest(7, "transactional"))
    with pytest.raises(MailpoolsError, match=r"open transactional request \(#7\)"):
        check_transactional(waiting)
