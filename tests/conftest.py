"""Databases for the tests: every test that takes `engine` runs on SQLite and on PostgreSQL.

The schema comes from the real migrations: it is built once per test worker
into a template (a SQLite file, a PostgreSQL template database). Each SQLite test
gets a fresh copy of the file. Copying a PostgreSQL database costs most of a
second, while emptying its few small tables takes milliseconds, so each test
worker keeps the PostgreSQL copies it made and empties one for the next test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import text

from app.services import dkim
from app.settings import PARSERS, environment_name
from data.db import make_engine, normalise_url, upgrade
from tests.clock_moves import standing_clock
from tests.dkim_keys import reused_keys

POSTGRES_URL_VARIABLE = "MAILPOOLS_TEST_POSTGRES_URL"
ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["sqlite", "postgresql"]


def pytest_addoption(parser):
    parser.addoption(
        "--drill",
        action="store_true",
        help="run the long versions of the sender's drills (make drill)",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "drill: has a long version, run by `make drill` (pytest --drill -m drill)"
    )


@pytest.fixture
def drill(request) -> bool:
    """True for the long version of a drill (make drill); the suite runs the short one."""
    return bool(request.config.getoption("--drill"))


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


class ReusedDatabases:
    """One test worker's copies of the PostgreSQL template, handed out one test at a time.

    A copy comes back emptied: every other connection to it is ended, every table's
    rows are deleted and every sequence starts again at 1, all in one transaction,
    so the next test sees what a fresh copy would show. A copy that cannot be
    emptied (a test left it refusing connections, or holding a lock) is dropped.
    """

    def __init__(self, admin_url: str, template: str) -> None:
        self.admin_url = admin_url
        self.template = template
        self.admin = sa_create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.idle: list[str] = []
        self.made: list[str] = []
        self._emptying: str | None = None

    def take(self) -> str:
        if self.idle:
            return self.idle.pop()
        name = f"mailpools_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.made.append(name)
        return name

    def give_back(self, name: str) -> None:
        try:
            self._empty(name)
        except Exception:
            self._drop(name)
        else:
            self.idle.append(name)

    def _empty(self, name: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        engine = sa_create_engine(_with_database(self.admin_url, name))
        try:
            with engine.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '5s'"))
                connection.execute(text(self._emptying_statement(connection)))
        finally:
            engine.dispose()

    def _emptying_statement(self, connection) -> str:
        # Every copy has the template's schema, so the statement is worked out once.
        if self._emptying is None:
            tables = connection.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            ).scalars()
            sequences = connection.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
            ).scalars()
            # As a replica the session skips foreign-key triggers, so order does not matter.
            self._emptying = (
                "SET LOCAL session_replication_role = replica;"
                + "".join(f'DELETE FROM "{table}";' for table in tables)
                + "".join(f"SELECT setval('\"{sequence}\"', 1, false);" for sequence in sequences)
            )
        return self._emptying

    def _drop(self, name: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.made.remove(name)

    def close(self) -> None:
        for name in list(self.made):
            self._drop(name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def reused_databases(postgres_template):
    databases = ReusedDatabases(*postgres_template)
    yield databases
    databases.close()


@contextmanager
def postgres_database(databases: ReusedDatabases):
    """The URL of an empty, migrated PostgreSQL database, for the length of the block."""
    name = databases.take()
    try:
        yield _with_database(databases.admin_url, name)
    finally:
        databases.give_back(name)


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """The URL of a fresh, migrated database on each backend."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "mailpools.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    with postgres_database(request.getfixturevalue("reused_databases")) as url:
        yield url


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
    with default settings: none from the person's shell or configuration file, and no
    periodic DNS checks."""
    for key in PARSERS:
        monkeypatch.delenv(environment_name(key), raising=False)
    # The sender's periodic DNS checks would ask the system's resolvers: tests that want
    # them point MAILPOOLS_DNS_SERVER at a loopback server and set the interval.
    monkeypatch.setenv("MAILPOOLS_DNS_CHECK_MINUTES", "0")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(empty_config_home))
    with standing_clock(monkeypatch):
        yield


@pytest.fixture(autouse=True)
def few_dkim_keys():
    """New domains take turns with a few RSA keys made once per test process: each fresh
    key costs 50 to 100 ms, and the demo world alone has seven domains. Tests of key
    generation itself take `fresh_dkim_keys`."""
    with dkim.keys_made_by(reused_keys):
        yield


@pytest.fixture
def fresh_dkim_keys(few_dkim_keys):
    with dkim.keys_made_by(dkim.new_rsa_key):
        yield


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of one test's own, so stopping it disturbs no other test."""

    url: str
    environment: dict[str, str]

    def control(self, action: str) -> str:
        return subprocess.run(
            ["bash", ".ci/postgres", action],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()


@pytest.fixture
def private_postgres():
    if shutil.which("pg_ctl") is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; in CI the restart drills must run.")
        pytest.skip("pg_ctl not found: PostgreSQL is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = PrivatePostgres("", dict(os.environ, MAILPOOLS_PG_PORT=str(port)))
    server.url = server.control("start")
    yield server
    server.control("stop")
