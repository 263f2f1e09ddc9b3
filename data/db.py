"""Engines and sessions from a database URL, and schema upgrades."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platformdirs import user_data_dir
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlmodel import Session, create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# How often a server's checkpointing thread copies the write-ahead log back.
CHECKPOINT_SECONDS = 1.0

log = logging.getLogger("mailpools.db")


def default_database_url() -> str:
    """A SQLite file in the user's data directory, for when no URL is configured."""
    directory = Path(user_data_dir("mailpools"))
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'mailpools.db'}"


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = normalise_url(url or default_database_url())
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling starts transactions lazily and as
    # DEFERRED, so two writers can both read and then fail to upgrade their
    # lock ("database is locked"). We take over: autocommit at the driver,
    # and every transaction begins IMMEDIATE, waiting on the busy timeout.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Through SQLAlchemy, not straight to the driver: a locked or missing database then
        # raises its OperationalError, which the console words as the database not answering.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def checkpoints_in_background(engine: Engine, every: float = CHECKPOINT_SECONDS) -> Iterator[None]:
    """While the block runs, ENGINE's SQLite connections made from now on leave copying
    the write-ahead log back into the database (a checkpoint) to a thread of its own.

    By default the connection whose commit fills the log past 1,000 pages copies it
    back there and then, and waits for the disk: a few milliseconds that a server's
    writer, whose clients wait on its commits, pays in the middle of their answers
    (about 6% of SMTP submission's rate). The thread checkpoints every EVERY seconds
    without blocking writers (PASSIVE), and once more at the end. Other processes keep
    checkpointing as usual. PostgreSQL and in-memory databases are left as they are.
    """
    path = engine.url.database
    if not is_sqlite(engine) or path in (None, "", ":memory:"):
        yield
        return

    def leave_checkpoints(dbapi_connection: DBAPIConnection, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    event.listen(engine, "connect", leave_checkpoints)
    stop = threading.Event()
    thread = threading.Thread(
        target=_checkpoint_until, args=(str(path), every, stop), name="checkpoints", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        event.remove(engine, "connect", leave_checkpoints)


def _checkpoint_until(path: str, every: float, stop: threading.Event) -> None:
    connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        while True:
            stopping = stop.wait(every)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as error:
                # Tried again next time; meanwhile the log only grows.
                log.warning("could not checkpoint %s: %s", path, error)
            if stopping:
                return
    finally:
        connection.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed if the block finishes, rolled back if it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str) -> Config:
    # Imported here: Alembic takes a tenth of a second to import, and only
    # schema changes need it, not every start of the console or the sender.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def schema_revision(url: str | None = None) -> str | None:
    """The migration the schema at URL is at; None where there is no schema yet."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the schema at URL up to REVISION with the migrations."""
    from alembic import command

    command.upgrade(alembic_config(url or default_database_url()), revision)


def explain_database_error(error: Exception, url: str | None = None) -> str:
    """One sentence for a person about why the database could not be used."""
    where = redact_url(url or default_database_url())
    text = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return f"The database at {where} has no mailpools schema yet: run `mailpools db upgrade`."
    if isinstance(error, ModuleNotFoundError | NoSuchModuleError | ArgumentError):
        return (
            f"MAILPOOLS_DATABASE_URL ({where}) is not a database mailpools can use: "
            "write sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE."
        )
    return f"Cannot use the database at {where}: {text}"


def redact_url(url: str) -> str:
    """The URL without its password, fit to print."""
    if "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    return f"{scheme}://{credentials}{at}{host}"
