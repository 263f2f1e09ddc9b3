"""What a state change did: the changed thing and one sentence saying so.

Services that change state return an Outcome, and the command line and the
console both print its summary, so the two never tell a person different things.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    subject: T
    summary: str
