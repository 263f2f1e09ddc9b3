"""The PostgreSQL copies tests share must come back exactly as empty as a fresh copy."""

from sqlalchemy import text

from data.db import make_engine
from tests.conftest import postgres_database


def _row_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tables = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            return {
                table: connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
                for table in tables
            }
    finally:
        engine.dispose()


def test_a_database_given_back_is_empty_with_ids_from_one_and_its_version_kept(reused_databases):
    with postgres_database(reused_databases) as url:
        fresh = _row_counts(url)
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO accounts (name, plan, created_at) VALUES ('a', 'standard', now())"
                )
            )
            connection.execute(
                text("INSERT INTO accounts (name, plan, created_at) VALUES ('b', 'premium', now())")
            )
        # A connection the test forgot to close must not keep the copy from being emptied.
        forgotten = engine.connect()
        forgotten.execute(text("SELECT 1"))
    # Closed only now, and by hand: left to the garbage collector, its clean-up can
    # run in the middle of an unrelated compile and upset the interpreter.
    forgotten.invalidate()
    forgotten.close()
    engine.dispose()
    with postgres_database(reused_databases) as again:
        assert again == url
        assert _row_counts(again) == fresh
        assert fresh["alembic_version"] == 1
        engine = make_engine(again)
        with engine.begin() as connection:
            new_id = connection.execute(
                text(
                    "INSERT INTO accounts (name, plan, created_at) VALUES ('c', 'standard', now()) RETURNING id"
                )
            ).scalar_one()
        engine.dispose()
        assert new_id == 1


def test_a_database_that_cannot_be_emptied_is_dropped_not_reused(reused_databases):
    with postgres_database(reused_databases) as url:
        name = url.rsplit("/", 1)[1]
        with reused_databases.admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
    assert name not in reused_databases.made
    assert name not in reused_databases.idle
