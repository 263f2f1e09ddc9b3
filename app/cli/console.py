"""`mailpools console --as USER`, and plain `mailpools` for the local default user."""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path

from platformdirs import user_config_dir

from app.cli.common import add_as_option, command, engine
from app.errors import MailpoolsError


def config_path() -> Path:
    return Path(user_config_dir("mailpools")) / "config.toml"


def default_user_name() -> str:
    """$MAILPOOLS_USER, else `user = "..."` in the configuration file."""
    name = os.environ.get("MAILPOOLS_USER", "").strip()
    if name:
        return name
    path = config_path()
    if path.exists():
        try:
            config = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise MailpoolsError(f"{path} is not valid TOML: {error}.") from None
        configured = config.get("user")
        if isinstance(configured, str) and configured.strip():
            return configured.strip()
        raise MailpoolsError(f'{path} has no user = "NAME" line: add one, or set MAILPOOLS_USER.')
    raise MailpoolsError(
        f'No default user: set MAILPOOLS_USER, or write user = "NAME" in {path}, '
        "or run mailpools console --as USER."
    )


def run_console(user_name: str, theme: str | None = None) -> int:
    from app.console.app import MailpoolsConsole
    from app.console.owner_backend import ConsoleBackend

    # Read what the first screen shows before the terminal is taken over: an unknown
    # user is refused on the command line, and the console paints complete at once.
    startup = ConsoleBackend(engine(), user_name).startup()
    console = MailpoolsConsole(engine(), user_name, theme=theme, startup=startup)
    console.run()
    return console.return_code or 0


def open_console(args: argparse.Namespace) -> int:
    name = args.as_user or os.environ.get("MAILPOOLS_USER")
    if not name:
        raise MailpoolsError("Say who is using the console with --as USER (or set MAILPOOLS_USER).")
    return run_console(name, args.theme)


def open_default_console(args: argparse.Namespace) -> int:
    return run_console(default_user_name(), getattr(args, "theme", None))


def register(subparsers) -> None:
    parser = command(subparsers, "console", open_console, "Open the terminal console as a user.")
    add_as_option(parser)
    parser.add_argument(
        "--theme",
        metavar="NAME",
        help="a Textual theme; default ansi-dark, which follows the terminal's own colours "
        "(ansi-light for light terminals)",
    )
