"""Engines, sessions and the database URL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, select

from app import clock, settings
from app.cli.common import database_url
from app.settings import Settings
from data.db import (
    checkpoints_in_background,
    default_database_url,
    is_sqlite,
    make_engine,
    normalise_url,
    session_scope,
)
from data.models import Account


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_plain_postgresql_urls_use_psycopg(url, expected):
    assert normalise_url(url) == expected


def test_the_url_comes_from_the_settings_in_force():
    with settings.in_force(Settings.load({"MAILPOOLS_DATABASE_URL": "postgresql://u@h/db"})):
        assert database_url() == "postgresql://u@h/db"


def test_the_default_is_a_sqlite_file_in_the_users_data_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    url = database_url()
    assert url == default_database_url()
    assert url == f"sqlite:///{tmp_path / 'mailpools' / 'mailpools.db'}"
    assert (tmp_path / "mailpools").is_dir()


def account(name: str) -> Account:
    return Account(name=name, plan="standard", created_at=clock.now())


def test_a_finished_block_commits(engine):
    with session_scope(engine) as session:
        session.add(account("kept"))
    with Session(engine) as session:
        assert session.exec(select(Account.name)).all() == ["kept"]


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_a_block_that_raises_leaves_nothing(engine, error):
    with pytest.raises(error):
        with session_scope(engine) as session:
            session.add(account("lost"))
            session.flush()
            raise error
    with Session(engine) as session:
        assert session.exec(select(Account)).all() == []


def test_times_come_back_aware_in_utc(engine):
    with session_scope(engine) as session:
        session.add(account("timed"))
    with Session(engine) as session:
        created = session.exec(select(Account.created_at)).one()
    assert created == clock.now()
    assert created.utcoffset() == timedelta(0)


def test_naive_times_are_refused(engine):
    with pytest.raises(Exception, match="(?i)naive|timezone|tzinfo"):
        with session_scope(engine) as session:
            session.add(Account(name="naive", plan="standard", created_at=datetime(2026, 1, 1)))


def test_sqlite_writers_queue_instead_of_failing(sqlite_url):
    """Two transactions that read, then write: with IMMEDIATE the second waits for the first."""
    engines = [make_engine(sqlite_url) for _ in range(2)]
    assert all(is_sqlite(e) for e in engines)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            barrier.wait()
            with session_scope(engines[index]) as session:
                count = len(session.exec(select(Account)).all())
                session.add(account(f"writer-{index}-{count}"))
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert errors == []
    check = make_engine(sqlite_url)
    with Session(check) as session:
        names = sorted(session.exec(select(Account.name)).all())
    check.dispose()
    # Each saw the other's row or none: the counts are 0 and 1, never 0 and 0.
    assert sorted(name.rsplit("-", 1)[1] for name in names) == ["0", "1"]


def _write_pages(engine, pages: int) -> None:
    """About PAGES pages of rows, each row its own transaction, as a server writes."""
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (data BLOB)")
    for _ in range(pages // 4):
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO filler VALUES (randomblob(16000))")


@pytest.mark.parametrize("in_background", [False, True], ids=["themselves", "in-background"])
def test_a_servers_connections_can_leave_checkpoints_to_a_thread(tmp_path, in_background):
    """Left to the thread (here told to wait past the test), 1,500 pages stay in the
    write-ahead log until the block ends and its last checkpoint copies them back;
    connections that checkpoint themselves copy them back as the log passes 1,000."""
    database = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{database}")
    if in_background:
        with checkpoints_in_background(engine, every=3600):
            _write_pages(engine, 1500)
            assert database.stat().st_size < 1_000_000
        assert database.stat().st_size > 6_000_000
    else:
        _write_pages(engine, 1500)
        assert database.stat().st_size > 4_000_000
    # Connections made afterwards checkpoint themselves again.
    engine.dispose()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    engine.dispose()


def test_an_in_memory_database_is_left_as_it_is():
    engine = make_engine("sqlite://")
    with checkpoints_in_background(engine, every=3600):
        assert "checkpoints" not in {thread.name for thread in threading.enumerate()}
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
