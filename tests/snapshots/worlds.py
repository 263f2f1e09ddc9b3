"""The snapshot worlds as built, and again with every domain under a long name.

Owners' domains are often far longer than the demo's, so each screen is drawn
at both sizes in both worlds. The long world is the same world renamed after it
is built: every text that names a domain (the domains themselves, requests'
confirmations, notifications, audit events) is rewritten with the new name, so
its history reads as if the domains had always been called so.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

SHORT = "short"
LONG = "long"

# At least 30 characters each; subdomains stay under their parent's new name.
LONG_NAMES = {
    "acme.example": "acme-outdoor-and-garden.example",
    "news.acme.example": "weekly-newsletter.acme-outdoor-and-garden.example",
    "billing.acme.example": "billing.acme-outdoor-and-garden.example",
    "bolt.example": "bolt-electric-bicycles.example",
    "offers.bolt.example": "seasonal-offers.bolt-electric-bicycles.example",
    "corvid.example": "corvid-analytics-platform.example",
    "mail.corvid.example": "mail.corvid-analytics-platform.example",
}

# The world and the terminal size of each snapshot; the short world keeps its
# snapshots' original names.
VIEWS = [
    pytest.param(SHORT, (80, 24), id="80x24"),
    pytest.param(SHORT, (120, 40), id="120x40"),
    pytest.param(LONG, (80, 24), id="long-80x24"),
    pytest.param(LONG, (120, 40), id="long-120x40"),
]

# A whole domain name: the longest names are tried first, so news.acme.example is
# never read as acme.example; a name may end a sentence, but not go on as a longer name.
_NAMED = re.compile(
    r"(?<![\w-])("
    + "|".join(re.escape(name) for name in sorted(LONG_NAMES, key=len, reverse=True))
    + r")(?![\w-]|\.[\w-])"
)


def domain_name(world: str, name: str) -> str:
    """What the domain seeded as NAME is called in WORLD."""
    return LONG_NAMES[name] if world == LONG else name


def renamed(text: str) -> str:
    return _NAMED.sub(lambda match: LONG_NAMES[match.group(1)], text)


def rename_domains(engine: Engine) -> None:
    """Give every domain of the world in ENGINE its long name, in every text of every table."""
    with engine.begin() as connection:
        for table in SQLModel.metadata.sorted_tables:
            keys = list(table.primary_key.columns)
            for row in connection.execute(select(table)).mappings():
                changed = {
                    column: renamed(value)
                    for column, value in row.items()
                    if isinstance(value, str) and renamed(value) != value
                }
                if changed:
                    matches_row = [key == row[key.name] for key in keys]
                    connection.execute(update(table).where(*matches_row).values(changed))
