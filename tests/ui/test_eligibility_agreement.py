"""The Mail Servers tab and the filing services agree on which requests a domain may
file: the same cases through both, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from app.console.owner_backend import domain_view
from app.errors import MailpoolsError
from app.rules.eligibility import Obstacle, dedicated_refusal, transactional_refusal
from app.services import pools
from app.services.requests import decisions, filing
from data.db import session_scope
from tests.factories import build_world, user
from widgets.dedicated_form import DedicatedForm
from widgets.mail_servers import MailServersPanel
from widgets.transactional_form import TransactionalForm

JUSTIFICATION = "Password resets and order receipts for customers who bought from our shop."


def _file_transactional(engine, domain="acme.example") -> int:
    with session_scope(engine) as session:
        return filing.request_transactional(
            session,
            user(session, "alice"),
            domain,
            justification=JUSTIFICATION,
            confirmation=domain,
        ).subject.id


def _file_dedicated(engine, domain="acme.example") -> int:
    with session_scope(engine) as session:
        return filing.request_dedicated(
            session, user(session, "alice"), [domain], weekly_volume=60_000, ip_count=1
        ).subject.id


def _approve(engine, request_id: int) -> None:
    with session_scope(engine) as session:
        decisions.approve(session, user(session, "sam"), request_id)


def _remove(engine, domain="acme.example") -> None:
    with session_scope(engine) as session:
        pools.remove_domain(session, user(session, "sam"), domain, reason="Bounces at 9%.")


CASES = {
    "shared": ("acme.example", lambda engine: None),
    "no transactional service": ("news.acme.example", lambda engine: None),
    "removed": ("acme.example", _remove),
    "in the transactional pool": (
        "acme.example",
        lambda engine: _approve(engine, _file_transactional(engine)),
    ),
    "on dedicated IPs": ("acme.example", lambda engine: _approve(engine, _file_dedicated(engine))),
    "waiting for a transactional request": ("acme.example", _file_transactional),
    "waiting for a dedicated request": ("acme.example", _file_dedicated),
}


def _service_refusal(engine, ask) -> str | None:
    """What the filing service says, in a transaction that is thrown away."""
    with Session(engine) as session:
        try:
            ask(session, user(session, "alice"))
        except MailpoolsError as error:
            return error.message
        finally:
            session.rollback()
    return None


def _tab_offers(panel_part, form_type) -> tuple[bool, str]:
    widgets = list(panel_part())
    shown = " ".join(str(getattr(widget, "content", "")) for widget in widgets)
    return any(isinstance(widget, form_type) for widget in widgets), shown


@pytest.mark.parametrize("case", list(CASES))
def test_the_mail_servers_tab_offers_a_request_exactly_when_the_service_would_file_it(engine, case):
    build_world(engine)
    name, prepare = CASES[case]
    prepare(engine)
    with Session(engine) as session:
        view = domain_view(session, user(session, "alice"), name)
    panel = MailServersPanel(view)
    transactional_offered, transactional_text = _tab_offers(panel.transactional, TransactionalForm)
    dedicated_offered, dedicated_text = _tab_offers(panel.dedicated, DedicatedForm)

    transactional_refused = _service_refusal(
        engine,
        lambda session, alice: (
            filing.request_transactional(
                session, alice, name, justification=JUSTIFICATION, confirmation=name
            ).subject
        ),
    )
    dedicated_refused = _service_refusal(
        engine,
        lambda session, alice: (
            filing.request_dedicated(
                session, alice, [name], weekly_volume=60_000, ip_count=1
            ).subject
        ),
    )
    assert transactional_offered == (transactional_refused is None)
    assert dedicated_offered == (dedicated_refused is None)
    # Where the tab explains a refusal in words, they are the service's words.
    for refused, text, refusal in (
        (transactional_refused, transactional_text, transactional_refusal(view.standing)),
        (dedicated_refused, dedicated_text, dedicated_refusal(view.standing)),
    ):
        if refusal is not None and refusal.obstacle != Obstacle.OPEN_REQUEST:
            assert refused == refusal.message
            if view.mode not in ("transactional", "dedicated"):
                assert refused in text
