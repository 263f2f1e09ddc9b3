"""The program's settings, read once where it starts and passed down from there.

Each setting comes from its MAILPOOLS_* environment variable, else from the
configuration file (config.toml in the user's configuration directory, e.g.
~/.config/mailpools/config.toml, keys named like the fields below), else its
default. The entry points read them with `Settings.load()`: the command line's
`main(argv)` (which runs the console, the sender and the SSH server) and the
demo. They hand them to what they build (the console takes its theme, the SSH
server its children's environment) and put them `in_force` for the services
underneath, which ask `current()`; child processes get them back as
environment variables (`as_environment()`).

A frozen dataclass rather than pydantic-settings: measured on this project's
shared machine (CPU time, medians of 11 fresh processes, SQLModel and Textual
already imported), importing pydantic-settings and python-dotenv and building a
five-field settings class cost 27–35 ms before reading any TOML (pydantic
itself is already loaded by SQLModel), while importing this module and loading
the settings, TOML reader included, costs 11–14 ms. The console's cold start is
already over its target and bound by imports, and five settings do not need a
validation framework.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

from app import clock
from app.errors import MailpoolsError
from app.rules.numbers import whole_number_or_none

ENVIRONMENT_PREFIX = "MAILPOOLS_"
DEFAULT_MAX_IPS_PER_REQUEST = 10
DEFAULT_SUBMISSION_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_SUBMISSION_MAX_RECIPIENTS = 100
DEFAULT_ACCOUNT_HOURLY_LIMIT = 1_000_000
DEFAULT_CONTENT_RETENTION_DAYS = 7
DEFAULT_MESSAGE_RETENTION_DAYS = 90
DEFAULT_AUTH_FAILURE_DELAY = 1.0
DEFAULT_SOFT_BOUNCE_LIMIT = 3
DEFAULT_INBOUND_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_DNS_TIMEOUT = 3.0
DEFAULT_DNS_CHECK_MINUTES = 60
DEFAULT_BLOCKLIST_ROTATION = "shared,transactional"
POOL_KINDS = ("shared", "transactional", "dedicated")


def config_path() -> Path:
    """Where the configuration file is looked for (it need not exist)."""
    return Path(user_config_dir("mailpools")) / "config.toml"


def _text(value: str, name: str) -> str | None:
    return value.strip() or None


def _whole_number(value: str, name: str) -> int:
    number = whole_number_or_none(value)
    if number is None or number < 0:
        raise MailpoolsError(f"{name} must be a whole number, 0 or more, not {value!r}.")
    return number


def _whole_number_from_one(value: str, name: str) -> int:
    number = whole_number_or_none(value)
    if number is None:
        raise MailpoolsError(f"{name} must be a whole number, not {value!r}.")
    if number < 1:
        raise MailpoolsError(f"{name} must be at least 1.")
    return number


def _host_and_port(value: str, name: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise MailpoolsError(f"{name} must be HOST:PORT, e.g. 127.0.0.1:53, not {value!r}.")
    return text


def _return_path_domain(value: str, name: str) -> str | None:
    text = value.strip().lower()
    if not text:
        return None
    try:
        text.format(domain="example.com")
    except (KeyError, IndexError, ValueError):
        raise MailpoolsError(
            f"{name} must be a domain, optionally with {{domain}} in it, not {value!r}."
        ) from None
    return text


def _https_url(value: str, name: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    if not text.startswith("https://") or len(text) <= len("https://"):
        raise MailpoolsError(f"{name} must be an https:// address, not {value!r}.")
    return text.rstrip("/")


def _domain_list(value: str, name: str) -> str | None:
    domains = [d.strip().lower().rstrip(".") for d in value.split(",") if d.strip()]
    return ",".join(domains) or None


def _pool_kinds(value: str, name: str) -> str:
    kinds = [kind.strip().lower() for kind in value.split(",") if kind.strip()]
    if kinds == ["none"]:
        return "none"
    unknown = [kind for kind in kinds if kind not in POOL_KINDS]
    if unknown or not kinds:
        raise MailpoolsError(
            f"{name} must be pool kinds ({', '.join(POOL_KINDS)}) separated by commas, "
            f"or none, not {value!r}."
        )
    return ",".join(kinds)


def _seconds(value: str, name: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise MailpoolsError(f"{name} must be a number of seconds, not {value!r}.") from None
    if not 0 <= number <= 60:
        raise MailpoolsError(f"{name} must be between 0 and 60 seconds.")
    return number


def _moment(value: str, name: str) -> datetime | None:
    return clock.parse_instant(value, name) if value.strip() else None


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    """MAILPOOLS_DATABASE_URL: sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE;
    unset means mailpools.db in the user's data directory."""

    user: str | None = None
    """MAILPOOLS_USER: who plain `mailpools` opens the console for, and who acts when a
    command is given no --as."""

    theme: str | None = None
    """MAILPOOLS_THEME: the console's Textual theme; unset means ansi-dark, which follows
    the terminal's own colours."""

    max_ips_per_request: int = DEFAULT_MAX_IPS_PER_REQUEST
    """MAILPOOLS_MAX_IPS_PER_REQUEST: the most dedicated IPs one request may ask for."""

    submission_max_bytes: int = DEFAULT_SUBMISSION_MAX_BYTES
    """MAILPOOLS_SUBMISSION_MAX_BYTES: the largest message `submit` and `enqueue --eml` take."""

    submission_max_recipients: int = DEFAULT_SUBMISSION_MAX_RECIPIENTS
    """MAILPOOLS_SUBMISSION_MAX_RECIPIENTS: the most recipients of one submitted message."""

    account_hourly_limit: int = DEFAULT_ACCOUNT_HOURLY_LIMIT
    """MAILPOOLS_ACCOUNT_HOURLY_LIMIT: the most messages one account may queue in a clock hour."""

    content_retention_days: int = DEFAULT_CONTENT_RETENTION_DAYS
    """MAILPOOLS_CONTENT_RETENTION_DAYS: days a message's content is kept after every message
    using it has finished (sent, bounced or rejected)."""

    message_retention_days: int = DEFAULT_MESSAGE_RETENTION_DAYS
    """MAILPOOLS_MESSAGE_RETENTION_DAYS: days a finished message is kept before the sender's
    upkeep deletes it (its counts stay in the daily stats)."""

    auth_failure_delay: float = DEFAULT_AUTH_FAILURE_DELAY
    """MAILPOOLS_AUTH_FAILURE_DELAY: seconds `submit` and the SSH door wait before answering
    a failed login, times the failures from that address in a row (at most ten times)."""

    soft_bounce_limit: int = DEFAULT_SOFT_BOUNCE_LIMIT
    """MAILPOOLS_SOFT_BOUNCE_LIMIT: soft bounces in a row that put a recipient on its
    account's suppression list (one hard bounce always does)."""

    inbound_max_bytes: int = DEFAULT_INBOUND_MAX_BYTES
    """MAILPOOLS_INBOUND_MAX_BYTES: the largest report or request `inbound` takes."""

    now: datetime | None = None
    """MAILPOOLS_NOW: an ISO 8601 moment the whole program stands on, for tests and demos
    (no offset means UTC); unset means the real time."""

    dns_server: str | None = None
    """MAILPOOLS_DNS_SERVER: HOST:PORT of the DNS server the DNS checks ask (and whether a
    rotated DKIM key's record is published); unset means the system's resolvers."""

    dns_timeout: float = DEFAULT_DNS_TIMEOUT
    """MAILPOOLS_DNS_TIMEOUT: seconds a DNS check waits for one answer before it reports
    "could not check"."""

    dnsbl_zones: str | None = None
    """MAILPOOLS_DNSBL_ZONES: DNS blocklist zones, comma-separated, each sending IP is looked
    up in (e.g. zen.spamhaus.org); unset means no blocklist is asked."""

    dns_check_minutes: int = DEFAULT_DNS_CHECK_MINUTES
    """MAILPOOLS_DNS_CHECK_MINUTES: how often the sender re-checks every domain's records
    and every IP's reverse DNS and blocklists; 0 means never (`mailpools checks run`
    from cron instead)."""

    blocklist_rotation: str = DEFAULT_BLOCKLIST_ROTATION
    """MAILPOOLS_BLOCKLIST_ROTATION: the kinds of pool (shared, transactional, dedicated)
    whose listed IPs are taken out of rotation until a clean check, or none."""

    spf_include: str | None = None
    """MAILPOOLS_SPF_INCLUDE: the platform's SPF record that domains include (e.g.
    _spf.mailpools.example); unset means the expected record names each sending IP."""

    inbound_host: str | None = None
    """MAILPOOLS_INBOUND_HOST: the inbound listener's host name, which each return-path
    domain's CNAME or MX must reach; unset means any mail server will do."""

    return_path_domain: str | None = None
    """MAILPOOLS_RETURN_PATH_DOMAIN: the domain of each message's envelope sender, where
    bounces and unsubscribe mail arrive; {domain} stands for the From domain. Unset means
    bounces.{domain}."""

    return_path_secret: str | None = None
    """MAILPOOLS_RETURN_PATH_SECRET: the key that signs return-path and unsubscribe tokens;
    unset means one made on first use and kept in the database's server_secrets table."""

    unsubscribe_url: str | None = None
    """MAILPOOLS_UNSUBSCRIBE_URL: an https:// address under which one-click unsubscribe
    links are served (List-Unsubscribe); unset means the mailto: address only."""

    tls_required_domains: str | None = None
    """MAILPOOLS_TLS_REQUIRED_DOMAINS: recipient domains, comma-separated, whose mail leaves
    only over STARTTLS with a verified certificate; others use TLS whenever offered."""

    tls_ca_file: str | None = None
    """MAILPOOLS_TLS_CA_FILE: a PEM file of certificate authorities to verify receiving
    servers against where TLS is required; unset means the system's."""

    config_file: Path | None = None
    """The configuration file the settings were read from, if there was one."""

    @classmethod
    def load(
        cls, environment: Mapping[str, str] | None = None, config_file: Path | None = None
    ) -> Settings:
        """Read the settings from ENVIRONMENT (the process's own by default) and the
        configuration file; a bad value is refused in one sentence that names it."""
        environment = os.environ if environment is None else environment
        path = config_file or config_path()
        # Each parser returns its own field's type, which a dict's value type cannot say.
        values: dict[str, Any] = {}
        found = path.is_file()
        if found:
            for key, value in _read_config(path).items():
                values[key] = PARSERS[key](value, f"{key} in {path}")
        for key, parse in PARSERS.items():
            name = environment_name(key)
            if environment.get(name, "").strip():
                values[key] = parse(environment[name], name)
        return cls(**values, config_file=path if found else None)

    def as_environment(self) -> dict[str, str]:
        """The settings that are set, as the variables a child process reads them from."""
        variables = {}
        for key in PARSERS:
            value = getattr(self, key)
            if value is not None:
                text = value.isoformat() if isinstance(value, datetime) else str(value)
                variables[environment_name(key)] = text
        return variables


PARSERS: dict[str, Callable[[str, str], object]] = {
    "database_url": _text,
    "user": _text,
    "theme": _text,
    "max_ips_per_request": _whole_number_from_one,
    "submission_max_bytes": _whole_number_from_one,
    "submission_max_recipients": _whole_number_from_one,
    "account_hourly_limit": _whole_number_from_one,
    "content_retention_days": _whole_number_from_one,
    "message_retention_days": _whole_number_from_one,
    "auth_failure_delay": _seconds,
    "soft_bounce_limit": _whole_number_from_one,
    "inbound_max_bytes": _whole_number_from_one,
    "now": _moment,
    "dns_server": _host_and_port,
    "dns_timeout": _seconds,
    "dnsbl_zones": _domain_list,
    "dns_check_minutes": _whole_number,
    "blocklist_rotation": _pool_kinds,
    "spf_include": _domain_list,
    "inbound_host": _domain_list,
    "return_path_domain": _return_path_domain,
    "return_path_secret": _text,
    "unsubscribe_url": _https_url,
    "tls_required_domains": _domain_list,
    "tls_ca_file": _text,
}


def environment_name(key: str) -> str:
    return ENVIRONMENT_PREFIX + key.upper()


def _read_config(path: Path) -> dict[str, str]:
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise MailpoolsError(f"{path} is not valid TOML: {error}.") from None
    values = {}
    for key, value in config.items():
        if key not in PARSERS:
            known = ", ".join(PARSERS)
            raise MailpoolsError(f"{path} has an unknown setting {key!r}; it knows {known}.")
        if isinstance(value, bool) or not isinstance(value, str | int | date):
            raise MailpoolsError(f"{key} in {path} must be a single value, not {value!r}.")
        # TOML has its own integers and dates; the parsers take text, as from the environment.
        values[key] = value.isoformat() if isinstance(value, date) else str(value)
    return values


_in_force = Settings()


def current() -> Settings:
    """The settings an entry point put in force, or the defaults when none has."""
    return _in_force


@contextmanager
def in_force(settings: Settings) -> Iterator[Settings]:
    """Make SETTINGS current until the block ends; a fixed MAILPOOLS_NOW fixes the clock.
    Without one the clock is left as it is, so a test that froze it stays frozen."""
    global _in_force
    previous = _in_force
    _in_force = settings
    try:
        with clock.frozen_at(settings.now) if settings.now else nullcontext():
            yield settings
    finally:
        _in_force = previous
