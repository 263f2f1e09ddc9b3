"""The long-name world the snapshots draw is the demo world wholly renamed."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import SQLModel

from data.db import make_engine
from tests.snapshots.worlds import LONG_NAMES, domain_name, renamed


def test_every_domain_of_the_long_world_has_a_long_name(long_demo_template):
    engine = make_engine(f"sqlite:///{long_demo_template}")
    with engine.connect() as connection:
        domains = SQLModel.metadata.tables["domains"]
        names = connection.scalars(select(domains.c.name)).all()
    engine.dispose()
    assert sorted(names) == sorted(LONG_NAMES.values())
    assert min(len(name) for name in names) >= 30


def test_no_text_of_the_long_world_names_a_domain_by_its_short_name(long_demo_template):
    engine = make_engine(f"sqlite:///{long_demo_template}")
    with engine.connect() as connection:
        texts = [
            value
            for table in SQLModel.metadata.sorted_tables
            for row in connection.execute(select(table))
            for value in row
            if isinstance(value, str)
        ]
    engine.dispose()
    assert texts
    assert [text for text in texts if renamed(text) != text] == []


def test_a_name_is_renamed_whole_wherever_it_stands():
    assert renamed("news.acme.example, acme.example and www.acme.example.") == (
        f"{domain_name('long', 'news.acme.example')}, {LONG_NAMES['acme.example']} and "
        f"www.{LONG_NAMES['acme.example']}."
    )
    assert renamed("notacme.example acme.example.org mail.acme-example") == (
        "notacme.example acme.example.org mail.acme-example"
    )
