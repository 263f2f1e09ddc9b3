"""Databases for the tests: every test that takes `engine` runs on SQLite and on PostgreSQL.

The schema comes from the real migrations: it is built once per test worker
into a template (a SQLite file, a PostgreSQL template database) and each test
gets a fresh copy, so tests are isolated and still fast.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import text

from app.settings import PARSERS, environment_name
from data.db import make_engine, normalise_url, upgrade
from tests.clock_moves import standing_clock

POSTGRES_URL_VARIABLE = "MAILPOOLS_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def pytest_report_header(config):
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if url:
        return f"PostgreSQL tests: {url}"
    return f"PostgreSQL tests: skipped ({POSTGRES_URL_VARIABLE} is not set; .ci/run sets it)"


def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        reason = (
            f"PostgreSQL tests need {POSTGRES_URL_VARIABLE} (.ci/run starts a server and sets it)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; in CI they must run.")
        pytest.skip(reason)
    return normalise_url(url)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> tuple[str, str]:
    admin_url = postgres_admin_url()
    # The process id too: two test runs on one server (two people, or CI beside a
    # local run) must never drop each other's template.
    name = f"mailpools_template_{_worker()}_{os.getpid()}"
    admin = sa_create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade(_with_database(admin_url, name))
    yield admin_url, name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_postgres_database(admin_url: str, template: str) -> tuple[str, callable]:
    name = f"mailpools_test_{uuid.uuid4().hex[:12]}"
    admin = sa_create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return _with_database(admin_url, name), drop


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """The URL of a fresh, migrated database on each backend."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "mailpools.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    admin_url, template = request.getfixturevalue("postgres_template")
    url, drop = fresh_postgres_database(admin_url, template)
    yield url
    drop()


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path) -> str:
    """A fresh, migrated SQLite database, for tests that need only one backend."""
    path = tmp_path / "mailpools.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url):
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def empty_config_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("config")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch, empty_config_home):
    """Every test stands on the same moment unless it moves the clock itself
    (tests.clock_moves), in this process and in the processes it starts,
    with default settings: none from the person's shell or configuration file."""
    for key in PARSERS:
        monkeypatch.delenv(environment_name(key), raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(empty_config_home))
    with standing_clock(monkeypatch):
        yield
