"""Parsing a received mail with the standard library's parser, without its costliest step.

The email package's feed parser compiles a regular expression for each multipart
boundary it meets: about 140 µs, some 40% of parsing a typical delivery status
notification. Every report a receiver sends has a boundary of its own, so the `re`
module's cache never helps, and the listener paid it on every mail.

`parse_mail` runs the very same parser code (its function, not a copy) with one
name changed: the `re` it sees compiles a boundary pattern as "the line starts with
the boundary, and then the pattern's tail matches"; the tail is the same for every
boundary, so `re`'s own cache keeps it compiled. That is the pattern's own meaning,
so the message comes out the same, part for part (tests/unit/test_mail_parsing.py
compares the two on generated and collected mail). Any other pattern, or a parser
whose boundary pattern has another shape, goes to `re` unchanged.
"""

from __future__ import annotations

import re
import threading
import types
from email import feedparser
from email.message import Message
from email.policy import compat32

# How the parser's boundary pattern opens: this group, the escaped boundary, ")".
_SEPARATOR_GROUP = "(?P<sep>"


class _BoundaryLine:
    """A compiled boundary pattern: the separator as a plain prefix, then the tail."""

    __slots__ = ("separator", "tail")

    def __init__(self, separator: str, tail: re.Pattern[str]) -> None:
        self.separator = separator
        self.tail = tail

    def match(self, line: str) -> re.Match[str] | None:
        if line.startswith(self.separator):
            return self.tail.match(line, len(self.separator))
        return None


class _BoundaryPatterns(threading.local):
    """Stands in for `re` where the parser builds its boundary pattern.

    The parser escapes the separator and compiles the pattern in one expression;
    `escape` notes the separator it escaped (per thread), and `compile` recognises
    the pattern built around it."""

    def __init__(self) -> None:
        self.escaped: tuple[str, str] | None = None

    def escape(self, text: str) -> str:
        escaped = re.escape(text)
        self.escaped = (escaped, text)
        return escaped

    def compile(self, pattern: str, flags: int = 0) -> re.Pattern[str] | _BoundaryLine:
        noted, self.escaped = self.escaped, None
        if noted is not None and flags == 0:
            escaped, separator = noted
            opening = f"{_SEPARATOR_GROUP}{escaped})"
            if pattern.startswith(opening):
                return _BoundaryLine(separator, re.compile(pattern[len(opening) :]))
        return re.compile(pattern, flags)


def _with_boundary_patterns(function: types.FunctionType) -> types.FunctionType:
    names = dict(vars(feedparser))
    names["re"] = _BoundaryPatterns()
    changed = types.FunctionType(function.__code__, names, function.__name__)
    changed.__qualname__ = function.__qualname__
    return changed


class _FeedParser(feedparser.BytesFeedParser):
    # Subparts are parsed by self._parsegen too, so nested multiparts gain as well.
    _parsegen = _with_boundary_patterns(feedparser.FeedParser._parsegen)  # type: ignore[attr-defined]


def parse_mail(raw: bytes) -> Message:
    """RAW parsed as `email.message_from_bytes(raw, policy=compat32)` parses it."""
    parser = _FeedParser(policy=compat32)
    parser.feed(raw)
    return parser.close()
