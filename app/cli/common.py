"""What the subcommands share: the engine, the acting user, and output."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from app import clock, settings
from app.errors import MailpoolsError
from app.services.auth import get_user
from data.db import default_database_url, make_engine, session_scope
from data.models import Role, User

_engine: Engine | None = None


def database_url() -> str:
    """The configured database (MAILPOOLS_DATABASE_URL), or the default SQLite file."""
    return settings.current().database_url or default_database_url()


def engine() -> Engine:
    """One engine per command, for the database in the settings in force."""
    global _engine
    if _engine is None:
        _engine = make_engine(database_url())
    return _engine


def close_engine() -> None:
    """Let the command's connections go; the next command makes its own engine."""
    global _engine
    if _engine is not None:
        _engine.dispose()
        _engine = None


def forget_inherited_engine() -> None:
    """In a child forked from a process with an engine: drop that engine without closing
    its connections, which still belong to the parent, so the child opens its own."""
    global _engine
    if _engine is not None:
        _engine.dispose(close=False)
        _engine = None


@contextmanager
def transaction() -> Iterator[Session]:
    with session_scope(engine()) as session:
        yield session


def acting_user(session: Session, args: argparse.Namespace) -> User:
    name = getattr(args, "as_user", None) or settings.current().user
    if not name:
        raise MailpoolsError("Say who is acting with --as USER (or set MAILPOOLS_USER).")
    return get_user(session, name)


def add_as_option(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--as",
        dest="as_user",
        metavar="USER",
        required=required and not settings.current().user,
        help="the acting user (default: $MAILPOOLS_USER, or user in config.toml)",
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned table for people; scripts use --json."""
    cells = [[str(c) for c in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


def group(subparsers, name: str, help_text: str) -> argparse._SubParsersAction:
    """The actions under a noun such as `domains`, shared by every module that adds to it."""
    groups = subparsers.__dict__.setdefault("_mailpools_groups", {})
    if name not in groups:
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        groups[name] = parser.add_subparsers(dest=f"{name}_action", metavar="ACTION", required=True)
    return groups[name]


def local_reader(session: Session, args: argparse.Namespace) -> User:
    """The identity for a read-only listing: --as or MAILPOOLS_USER, as for a change, so a
    read shows what that user may see; with neither, the local operator, who already has
    the database in hand and so may read all of it."""
    name = getattr(args, "as_user", None) or settings.current().user
    if name:
        return get_user(session, name)
    return User(name="operator", role=Role.ADMIN, created_at=clock.now())


def command(subparsers, name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    # The parser goes along so its arguments can be named in refusals.
    parser.set_defaults(handler=handler, parser=parser)
    return parser


async def serve_until_signalled(server: Any) -> None:
    """Keep a listening server up until SIGTERM or SIGINT, then close it cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()
