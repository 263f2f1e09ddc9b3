"""Who may do what. Checked in the services, whatever the interface does."""

from __future__ import annotations

from sqlmodel import Session, select

from app.errors import NotFound, PermissionDenied
from app.rules.formatting import one_line
from data.models import Role, User


def get_user(session: Session, name: str) -> User:
    # Exactly the name: "sam " is not sam, or a typo could act as someone after all.
    user = (
        session.exec(select(User).where(User.name == name)).first() if name.isprintable() else None
    )
    if user is None:
        raise NotFound(f"There is no user named {one_line(repr(name), 80)}.")
    return user


def is_staff(user: User) -> bool:
    return user.role in (Role.AGENT, Role.ADMIN)


def require_staff(user: User, doing: str = "do that") -> None:
    if not is_staff(user):
        raise PermissionDenied(
            f"Only support agents and admins may {doing}; {user.name} is an owner."
        )


def require_account_access(user: User, account_id: int | None) -> None:
    """Owners act on their own account only; agents and admins on any."""
    if is_staff(user):
        return
    if user.account_id is None or user.account_id != account_id:
        raise PermissionDenied(f"{user.name} may only act on their own account.")
