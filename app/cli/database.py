"""`mailpools db upgrade`."""

from __future__ import annotations

from app.cli.common import command, group
from data.db import default_database_url, upgrade


def register(subparsers) -> None:
    db_commands = group(subparsers, "db", "manage the database schema")
    command(db_commands, "upgrade", _upgrade, "create or update the schema to the latest version")


def _upgrade(args) -> int:
    url = default_database_url()
    upgrade(url)
    print(f"database is up to date: {_redacted(url)}")
    return 0


def _redacted(url: str) -> str:
    """Never print a password that may be in the URL."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    return f"{scheme}://{credentials}{at}{host}"
