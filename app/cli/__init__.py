"""The `mailpools` command line.

Each area registers its own subcommands (one module per area); this module
only builds the parser, runs the chosen command, and turns a refusal into
one sentence on stderr with a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

from app import settings
from app.cli.arguments import OneLineParser, check_text_arguments
from app.cli.common import close_engine, database_url
from app.errors import MailpoolsError
from app.settings import Settings
from data.db import explain_database_error

# Modules with a `register(subparsers)` function, in the order of `--help`.
COMMAND_MODULES = (
    "app.cli.database",
    "app.cli.inventory",
    "app.cli.domains",
    "app.cli.requests",
    "app.cli.audit",
    "app.cli.operations",
    "app.cli.sending",
    "app.cli.dkim",
    "app.cli.dns_checks",
    "app.cli.submission",
    "app.cli.feedback",
    "app.cli.console",
    "app.cli.ssh",
)

EXIT_REFUSED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="mailpools",
        description="Decide which IPs each sending domain uses, and send through them.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def undecodable_argument(argv: Sequence[str]) -> int | None:
    """The 1-based position of the first argument that is not valid UTF-8, if any.

    Python keeps such bytes as lone surrogates; printing one back would fail.
    """
    for position, argument in enumerate(argv, start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            return position
    return None


def main(
    argv: Sequence[str] | None = None,
    configured: Settings | None = None,
    parser: argparse.ArgumentParser | None = None,
) -> int:
    """Run one command. The settings are read from the environment and the configuration
    file now, at each call, unless the caller passes its own (the demo does). PARSER, built
    under the same settings, spares building it again (the SSH door's consoles do)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    position = undecodable_argument(arguments)
    if position is not None:
        print(
            f"mailpools: argument {position} is not valid UTF-8 text; "
            "names and values must be written in UTF-8.",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    try:
        configured = configured or Settings.load()
    except MailpoolsError as error:
        print(f"mailpools: {error.message}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        with settings.in_force(configured):
            return _run(arguments, parser or build_parser())
    finally:
        close_engine()


def _run(arguments: list[str], parser: argparse.ArgumentParser) -> int:
    args = parser.parse_args(arguments)
    handler: Callable[[argparse.Namespace], int | None] | None = getattr(args, "handler", None)
    if handler is None:
        # Plain `mailpools` opens the console for the configured default user.
        if args.command is None:
            from app.cli.console import open_default_console

            handler = open_default_console
        else:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
    try:
        check_text_arguments(args)
        return handler(args) or 0
    except MailpoolsError as error:
        print(f"mailpools: {error.message}", file=sys.stderr)
        return EXIT_REFUSED
    except (SQLAlchemyError, NoSuchModuleError, ModuleNotFoundError) as error:
        if isinstance(error, ModuleNotFoundError) and not _is_database_driver(error):
            raise
        print(f"mailpools: {explain_database_error(error, database_url())}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (e.g. `head`) has gone; stop quietly like other Unix tools.
        sys.stderr.close()
        return 0


def _is_database_driver(error: ModuleNotFoundError) -> bool:
    # A URL naming a database we do not ship a driver for, e.g. mysql://.
    return (error.name or "").lower() in {"mysqldb", "pymysql", "cx_oracle", "oracledb", "pyodbc"}
