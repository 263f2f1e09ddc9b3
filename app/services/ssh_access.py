"""Who comes in by the SSH door, who is turned away, and when sessions end: each audited
with the client's address and the key's fingerprint."""

from __future__ import annotations

from sqlmodel import Session, select

from app.rules.formatting import one_line
from app.services import audit
from app.services.auth import get_user
from app.services.ssh_keys import identity_or_none, stored_identities
from data.models import User

UNKNOWN_KEY = "unknown key"
ANOTHER_USERS_KEY = "the key belongs to another user"
SHARED_KEY = "the key is held by more than one user"


def _refusal_reason(holders: list[User], login: str) -> str | None:
    if not holders:
        return UNKNOWN_KEY
    if len(holders) > 1:
        return SHARED_KEY
    if holders[0].name != login:
        return ANOTHER_USERS_KEY
    return None


def check_login(
    session: Session, login: str, presented_key: str, address: str, fingerprint: str, delay: float
) -> User | None:
    """The user LOGIN if PRESENTED_KEY (OpenSSH format) is theirs and theirs alone, else None
    with the refusal audited: the key proves who you are, the login name must match it.
    DELAY is how long the refusal is made to wait, recorded with it."""
    wanted = identity_or_none(presented_key)
    holders = (
        []
        if wanted is None
        else [
            user
            for user in session.exec(select(User).where(User.ssh_keys != ""))
            if wanted in stored_identities(user.ssh_keys)
        ]
    )
    reason = _refusal_reason(holders, login)
    if reason is None:
        return holders[0]
    audit.record(
        session,
        actor=audit.SYSTEM_ACTOR,
        action="ssh.login_refused",
        entity="ssh_login",
        entity_id=one_line(repr(login), 100),
        after={
            "address": address,
            "fingerprint": fingerprint,
            "reason": reason,
            "answered_after_seconds": delay,
        },
    )
    return None


def record_login(session: Session, user_name: str, address: str, fingerprint: str) -> None:
    user = get_user(session, user_name)
    audit.record(
        session,
        actor=user.name,
        action="ssh.login",
        entity="user",
        entity_id=user.id,
        account_id=user.account_id,
        after={"address": address, "fingerprint": fingerprint},
    )


def record_session_refused(
    session: Session, user_name: str, address: str, fingerprint: str, reason: str
) -> None:
    """A logged-in user's session that was not opened (a limit, a command, no terminal)."""
    user = get_user(session, user_name)
    audit.record(
        session,
        actor=user.name,
        action="ssh.session_refused",
        entity="user",
        entity_id=user.id,
        account_id=user.account_id,
        after={"address": address, "fingerprint": fingerprint, "reason": reason},
    )


def record_session_end(
    session: Session, user_name: str, address: str, fingerprint: str, how: str, seconds: float
) -> None:
    user = get_user(session, user_name)
    audit.record(
        session,
        actor=user.name,
        action="ssh.session_ended",
        entity="user",
        entity_id=user.id,
        account_id=user.account_id,
        after={
            "address": address,
            "fingerprint": fingerprint,
            "how": how,
            "seconds": round(seconds, 1),
        },
    )
