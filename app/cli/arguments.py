"""Arguments as the command line reads them: numbers by the one rule in app.rules.numbers,
text checked once for every command, usage errors in one line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from app.errors import MailpoolsError
from app.rules.formatting import one_line
from app.rules.numbers import decimal_number_or_none, whole_number_or_none
from app.services.inventory import HOSTNAME_MAX_LENGTH, NAME_MAX_LENGTH


def whole_number(text: str) -> int:
    """A whole number of ASCII digits (0 or more); argparse names the option on refusal."""
    number = whole_number_or_none(text)
    if number is None:
        raise argparse.ArgumentTypeError(
            f"must be a whole number such as 5, not {one_line(text, 40)!r}"
        )
    return number


def seconds(text: str) -> float:
    """A number of seconds in plain decimal digits, such as 30 or 2.5."""
    number = decimal_number_or_none(text)
    if number is None:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds such as 30 or 2.5, not {one_line(text, 40)!r}"
        )
    return number


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors in one line: what is wrong, and where help is.

    The stock parser prints the whole usage first; a value echoed in the error is
    shown on one line and cut, so a newline or a long value cannot split the message.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {one_line(message, 300)} (see {self.prog} --help)\n")


# Names and single values: the longest each may be. Inventory names are at most
# NAME_MAX_LENGTH, host and domain names HOSTNAME_MAX_LENGTH; an IPv6 address 45.
NAME_LIMITS = {
    "as_user": NAME_MAX_LENGTH,
    "user": NAME_MAX_LENGTH,
    "account": NAME_MAX_LENGTH,
    "pool": NAME_MAX_LENGTH,
    "join": NAME_MAX_LENGTH,
    "domain": HOSTNAME_MAX_LENGTH,
    "domains": HOSTNAME_MAX_LENGTH,
    "confirm": HOSTNAME_MAX_LENGTH,
    "host": HOSTNAME_MAX_LENGTH,
    "relay": HOSTNAME_MAX_LENGTH + 6,
    "nameserver": HOSTNAME_MAX_LENGTH + 6,
    "address": 45,
    "ip": 45,
    "ips": 45,
    "from_addr": 320,
    "to_addr": 320,
    "message_ids": 998,
    "kind": 100,
    "theme": 100,
    "volume": 40,
    "weight": 40,
    "day": 40,
}
# Text a person writes for another to read: spaces and line breaks are theirs to use
# (the services fold them), and the services refuse it beyond their own limits.
FREE_TEXT = {"reason", "subject"}
# Filesystem paths: anything the system takes except NUL, up to PATH_MAX.
PATH_LIMIT = 4096


def label_of(parser: argparse.ArgumentParser, dest: str) -> str:
    """How the command's help names the argument stored in DEST: --as, DOMAIN, FILE."""
    for action in parser._actions:
        if action.dest == dest:
            if action.option_strings:
                return action.option_strings[-1]
            return str(action.metavar or dest.upper())
    return dest


def check_text_arguments(args: argparse.Namespace) -> None:
    """Refuse, in one sentence naming the argument, any text argument that is empty,
    padded with spaces, holds characters that do not print, or is too long.

    Checked before the command touches anything: "sam " must not act as sam, and a
    NUL or a bidirectional control must not reach a query, a log or a screen.
    """
    parser: argparse.ArgumentParser | None = getattr(args, "parser", None)
    if parser is None:
        return
    for dest, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, Path):
                item = str(item)
            if isinstance(item, str):
                problem = _problem(dest, item)
                if problem:
                    raise MailpoolsError(f"{label_of(parser, dest)} {problem}.")


def _problem(dest: str, value: str) -> str | None:
    if dest in {"file", "host_key", "eml", "tls_cert", "tls_key"}:
        if "\x00" in value:
            return "holds a NUL character, which no path can"
        if len(value) > PATH_LIMIT:
            return f"is longer than {PATH_LIMIT:,} characters"
        return None
    if dest in FREE_TEXT:
        if not "".join(value.split()).isprintable():
            return (
                f"holds characters that do not print ({one_line(repr(value), 60)}); "
                "write plain text"
            )
        return None
    limit = NAME_LIMITS.get(dest, NAME_MAX_LENGTH)
    if not value:
        return "is empty"
    if len(value) > limit:
        return f"is longer than {limit:,} characters"
    if not value.isprintable():
        return (
            f"holds characters that do not print ({one_line(repr(value), 60)}); "
            "names and values are plain text"
        )
    if value != value.strip():
        return f"has spaces around it ({one_line(repr(value), 60)}); write it without them"
    return None
