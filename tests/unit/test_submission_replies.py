"""The submission server's words: each refusal's reply code, and the delay after failed logins."""

from __future__ import annotations

import pytest

from app.errors import MailpoolsError, NotFound, PermissionDenied
from app.rules.failed_logins import MAX_DELAY_STEPS, FailedLogins
from app.submission.server import reply_for


@pytest.mark.parametrize(
    ("error", "reply"),
    [
        (MailpoolsError("Too big.", field="size"), "552 5.3.4 Too big."),
        (MailpoolsError("Malformed.", field="content"), "550 5.6.0 Malformed."),
        (MailpoolsError("Bad address.", field="to"), "553 5.1.3 Bad address."),
        (MailpoolsError("Bad sender.", field="from"), "553 5.1.3 Bad sender."),
        (MailpoolsError("Too many.", field="recipients"), "452 4.5.3 Too many."),
        (MailpoolsError("Later.", field="rate"), "451 4.7.0 Later."),
        (MailpoolsError("Transactional only.", field="kind"), "550 5.7.1 Transactional only."),
        (PermissionDenied("Not yours.", field="from"), "550 5.7.1 Not yours."),
        (NotFound("No such\ndomain.", field="from"), "553 5.1.3 No such domain."),
    ],
)
def test_each_refusal_gets_its_code_and_one_line(error, reply):
    assert reply_for(error) == reply


def test_failed_logins_wait_longer_each_time_up_to_a_cap_and_success_forgets_them():
    logins = FailedLogins(step_seconds=0.5)
    delays = [logins.failed("192.0.2.1") for _ in range(MAX_DELAY_STEPS + 3)]
    assert delays[:3] == [0.5, 1.0, 1.5]
    assert delays == sorted(delays) and delays[-1] == 0.5 * MAX_DELAY_STEPS
    # Another address starts from the beginning.
    assert logins.failed("192.0.2.2") == 0.5
    logins.succeeded("192.0.2.1")
    assert logins.count("192.0.2.1") == 0 and logins.failed("192.0.2.1") == 0.5
