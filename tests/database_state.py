"""Every row of every table, so a test can prove that a refused action changed nothing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import data.models  # noqa: F401  (registers the tables on the metadata)


def database_state(engine: Engine) -> dict[str, list[tuple]]:
    state: dict[str, list[tuple]] = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = connection.execute(select(table).order_by(*order)).all()
            state[table.name] = [tuple(row) for row in rows]
    return state
