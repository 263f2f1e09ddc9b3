"""The migrations, from an empty database, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import data.models  # noqa: F401  (registers the tables on the metadata)
from data.db import alembic_config, make_engine, upgrade
from tests.conftest import postgres_admin_url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    """A database with nothing in it, not even Alembic's version table."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin_url = postgres_admin_url()
    name = f"mailpools_empty_{uuid.uuid4().hex[:12]}"
    admin = sa_create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _compare_server_default(
    context, inspected_column, metadata_column, inspected_default, metadata_default, rendered
):
    # Alembic's SQLite comparison unquotes defaults with a pattern that needs at
    # least one character, so an empty-string default ('') always looks changed
    # there. Every other default goes to Alembic's own comparison (None).
    if context.dialect.name == "sqlite" and rendered == "" and inspected_default in ("('')", "''"):
        return False
    return None


def differences(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "compare_server_default": _compare_server_default},
            )
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def test_upgrade_creates_every_table(empty_database_url):
    assert table_names(empty_database_url) == set()
    upgrade(empty_database_url)
    assert table_names(empty_database_url) == set(SQLModel.metadata.tables) | {"alembic_version"}


def test_migrated_schema_matches_the_models(empty_database_url):
    upgrade(empty_database_url)
    assert differences(empty_database_url) == []


def test_upgrade_twice_is_harmless(empty_database_url):
    upgrade(empty_database_url)
    upgrade(empty_database_url)
    assert differences(empty_database_url) == []


def test_downgrade_to_base_and_back(empty_database_url):
    upgrade(empty_database_url)
    command.downgrade(alembic_config(empty_database_url), "base")
    assert table_names(empty_database_url) == {"alembic_version"}
    upgrade(empty_database_url)
    assert table_names(empty_database_url) == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert differences(empty_database_url) == []


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
