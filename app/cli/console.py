"""`mailpools console --as USER`, and plain `mailpools` for the local default user."""

from __future__ import annotations

import argparse

from app import settings
from app.cli.common import add_as_option, command, engine
from app.errors import MailpoolsError
from app.settings import Settings


def default_user_name(configured: Settings) -> str:
    """MAILPOOLS_USER, else `user = "..."` in the configuration file."""
    if configured.user:
        return configured.user
    if configured.config_file is not None:
        raise MailpoolsError(
            f'{configured.config_file} has no user = "NAME" line: add one, or set MAILPOOLS_USER.'
        )
    raise MailpoolsError(
        f'No default user: set MAILPOOLS_USER, or write user = "NAME" in {settings.config_path()}, '
        "or run mailpools console --as USER."
    )


def run_console(user_name: str, theme: str | None = None) -> int:
    from app.console.app import MailpoolsConsole
    from app.console.owner_backend import ConsoleBackend

    # Read what the first screen shows before the terminal is taken over: an unknown
    # user is refused on the command line, and the console paints complete at once.
    startup = ConsoleBackend(engine(), user_name).startup()
    theme = theme or settings.current().theme
    console = MailpoolsConsole(engine(), user_name, theme=theme, startup=startup)
    console.run()
    return console.return_code or 0


def open_console(args: argparse.Namespace) -> int:
    name = args.as_user or settings.current().user
    if not name:
        raise MailpoolsError("Say who is using the console with --as USER (or set MAILPOOLS_USER).")
    return run_console(name, args.theme)


def open_default_console(args: argparse.Namespace) -> int:
    return run_console(default_user_name(settings.current()), getattr(args, "theme", None))


def register(subparsers) -> None:
    parser = command(subparsers, "console", open_console, "Open the terminal console as a user.")
    add_as_option(parser)
    parser.add_argument(
        "--theme",
        metavar="NAME",
        help="a Textual theme; default ansi-dark, which follows the terminal's own colours "
        "(ansi-light for light terminals)",
    )
