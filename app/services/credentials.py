"""SMTP submission credentials: an account's logins, each for one message kind (stream).

The secret is shown once, when the credential is created; only a salted scrypt
hash is stored. Owners manage their own account's credentials; agents and
admins see every account's (never a secret) and may revoke any, as when a
leaked login is being abused; nobody creates one for another account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from app import clock
from app.errors import MailpoolsError, NotFound, PermissionDenied
from app.services import audit
from app.services.auth import is_staff, require_account_access
from app.services.outcomes import Outcome
from data.models import Account, MessageKind, SubmissionCredential, User, saved_id

# scrypt's cost: about 16 MiB and a few tens of milliseconds per check, paid once per login.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_SECRET_BYTES = 24
# Checked against when a username is unknown, so a login takes as long either way.
_DECOY_HASH: str | None = None


@dataclass(frozen=True)
class CredentialView:
    """A credential as anyone may see it: everything but the secret."""

    id: int
    account: str
    kind: str
    username: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "account": self.account,
            "kind": self.kind,
            "username": self.username,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "revoked_at": self.revoked_at,
            "revoked_by": self.revoked_by,
        }


@dataclass(frozen=True)
class NewCredential:
    """A credential just created, with its secret: the one time the secret is known."""

    credential: CredentialView
    secret: str

    def as_json(self) -> dict:
        return {**self.credential.as_json(), "secret": self.secret}


@dataclass(frozen=True)
class SubmissionLogin:
    """Who a successful login is: the account and the one kind it may send."""

    credential_id: int
    username: str
    account_id: int
    account: str
    kind: str


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(
        ["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)]
    )


def secret_matches(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(secret, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=_HASH_BYTES
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _view(credential: SubmissionCredential, account_name: str) -> CredentialView:
    return CredentialView(
        id=saved_id(credential),
        account=account_name,
        kind=credential.kind,
        username=credential.username,
        created_at=credential.created_at,
        created_by=credential.created_by,
        revoked_at=credential.revoked_at,
        revoked_by=credential.revoked_by,
    )


def create_credential(session: Session, actor: User, *, kind: str) -> Outcome[NewCredential]:
    """A new login for ACTOR's account, sending KIND messages only."""
    if kind not in set(MessageKind):
        raise MailpoolsError(
            f"{kind!r} is not a message kind; use transactional, campaign or broadcast.",
            field="kind",
        )
    if is_staff(actor) or actor.account_id is None:
        raise PermissionDenied(
            f"Only an account's owners create its credentials; {actor.name} has no account.",
            field="kind",
        )
    account = session.get(Account, actor.account_id)
    assert account is not None, "a user's account exists"
    username = f"{account.name}-{kind}-{secrets.token_hex(4)}"
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    credential = SubmissionCredential(
        account_id=saved_id(account),
        kind=kind,
        username=username,
        secret_hash=hash_secret(secret),
        created_at=clock.now(),
        created_by=actor.name,
    )
    session.add(credential)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="credential.create",
        entity="credential",
        entity_id=saved_id(credential),
        account_id=account.id,
        after={"username": username, "kind": kind},
    )
    view = _view(credential, account.name)
    return Outcome(
        NewCredential(view, secret),
        f"Created {kind} credential {username} for {account.name}; "
        "its secret is shown only this once.",
    )


def list_credentials(session: Session, actor: User) -> list[CredentialView]:
    """ACTOR's account's credentials (every account's for agents and admins), newest first."""
    query = (
        select(SubmissionCredential, Account.name)
        .join(Account, col(Account.id) == col(SubmissionCredential.account_id))
        .order_by(col(SubmissionCredential.id).desc())
    )
    if not is_staff(actor):
        if actor.account_id is None:
            return []
        query = query.where(SubmissionCredential.account_id == actor.account_id)
    return [_view(credential, name) for credential, name in session.exec(query)]


def revoke_credential(session: Session, actor: User, credential_id: int) -> Outcome[CredentialView]:
    credential = session.get(SubmissionCredential, credential_id)
    if credential is None:
        raise NotFound(f"There is no credential with id {credential_id}.")
    require_account_access(actor, credential.account_id)
    account = session.get(Account, credential.account_id)
    assert account is not None, "a credential's account exists"
    if credential.revoked_at is not None:
        raise MailpoolsError(
            f"Credential {credential.username} was already revoked by {credential.revoked_by} "
            f"on {credential.revoked_at:%Y-%m-%d %H:%M} UTC."
        )
    credential.revoked_at = clock.now()
    credential.revoked_by = actor.name
    session.add(credential)
    audit.record(
        session,
        actor=actor.name,
        action="credential.revoke",
        entity="credential",
        entity_id=credential_id,
        account_id=account.id,
        before={"username": credential.username, "revoked": False},
        after={"username": credential.username, "revoked": True},
    )
    return Outcome(
        _view(credential, account.name),
        f"Revoked credential {credential.username}: it can no longer log in.",
    )


def authenticate(session: Session, username: str, secret: str) -> SubmissionLogin | None:
    """The login USERNAME and SECRET prove, or None (unknown, revoked or a wrong secret)."""
    global _DECOY_HASH
    row = session.exec(
        select(SubmissionCredential, Account.name)
        .join(Account, col(Account.id) == col(SubmissionCredential.account_id))
        .where(SubmissionCredential.username == username)
    ).first()
    if row is None:
        if _DECOY_HASH is None:
            _DECOY_HASH = hash_secret(secrets.token_urlsafe(_SECRET_BYTES))
        secret_matches(secret, _DECOY_HASH)
        return None
    credential, account_name = row
    if not secret_matches(secret, credential.secret_hash) or credential.revoked_at is not None:
        return None
    return SubmissionLogin(
        credential_id=saved_id(credential),
        username=credential.username,
        account_id=credential.account_id,
        account=account_name,
        kind=credential.kind,
    )
