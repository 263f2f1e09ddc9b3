"""Secrets the program makes for itself the first time one is needed.

They live in the server_secrets table, so every process on every host that
shares the database (senders now, the inbound listener later) uses the same
one. A setting, where there is one, takes precedence over the stored value.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from app import clock
from data.models import ServerSecret, table_of

SECRETS = table_of(ServerSecret)
RETURN_PATH_SECRET = "return-path-tokens"


def server_secret(session: Session, name: str) -> bytes:
    """The secret called NAME, made and stored if there is none yet; two processes asking
    at once get the same one."""
    connection = session.connection()
    insert = sqlite_insert if connection.dialect.name == "sqlite" else postgresql_insert
    connection.execute(
        insert(SECRETS)
        .values(name=name, value=secrets.token_urlsafe(32), created_at=clock.now())
        .on_conflict_do_nothing(index_elements=[SECRETS.c.name])
    )
    value = connection.execute(select(SECRETS.c.value).where(SECRETS.c.name == name)).scalar_one()
    return value.encode()
