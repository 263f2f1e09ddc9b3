"""`mailpools db upgrade`."""

from __future__ import annotations

from app.cli.common import command, database_url, group
from data.db import redact_url, upgrade


def register(subparsers) -> None:
    db_commands = group(subparsers, "db", "manage the database schema")
    command(db_commands, "upgrade", _upgrade, "create or update the schema to the latest version")


def _upgrade(args) -> int:
    url = database_url()
    upgrade(url)
    print(f"database is up to date: {redact_url(url)}")
    return 0
