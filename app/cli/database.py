"""`mailpools db upgrade`."""

from __future__ import annotations

from app.cli.common import command, database_url, group, transaction
from app.services.dkim import add_missing_keys
from data.db import redact_url, schema_revision, upgrade


def register(subparsers) -> None:
    db_commands = group(subparsers, "db", "manage the database schema")
    command(db_commands, "upgrade", _upgrade, "create or update the schema to the latest version")


def _upgrade(args) -> int:
    url = database_url()
    before = schema_revision(url)
    upgrade(url)
    after = schema_revision(url)
    # Domains made before DKIM keys existed get theirs here, once, where an operator
    # expects the database to change, rather than in whatever command reads one first.
    with transaction() as session:
        keyed = add_missing_keys(session)
    if before is None:
        print(f"Created the database's schema: {redact_url(url)}")
    elif before != after:
        print(f"Updated the database's schema to the latest version: {redact_url(url)}")
    else:
        print(f"The database is already up to date: {redact_url(url)}")
    if keyed:
        print(f"made DKIM keys for {len(keyed)} domain(s): {', '.join(keyed)}")
    return 0
