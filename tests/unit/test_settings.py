"""The settings: read once from MAILPOOLS_* variables and the configuration file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app import clock, settings
from app.errors import MailpoolsError
from app.settings import Settings, config_path


def write_config(text: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def own_config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))


def test_the_defaults():
    loaded = Settings.load({})
    assert loaded == Settings()
    assert loaded.database_url is None
    assert loaded.user is None
    assert loaded.theme is None
    assert loaded.max_ips_per_request == 10
    assert loaded.now is None
    assert loaded.config_file is None


def test_each_variable_sets_its_field():
    loaded = Settings.load(
        {
            "MAILPOOLS_DATABASE_URL": "postgresql://u@h/db",
            "MAILPOOLS_USER": "  alice ",
            "MAILPOOLS_THEME": "ansi-light",
            "MAILPOOLS_MAX_IPS_PER_REQUEST": "4",
            "MAILPOOLS_NOW": "2026-11-26T10:00:00+01:00",
            "MAILPOOLS_TEST_POSTGRES_URL": "not a setting, and left alone",
        }
    )
    assert loaded == Settings(
        database_url="postgresql://u@h/db",
        user="alice",
        theme="ansi-light",
        max_ips_per_request=4,
        now=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    )


def test_empty_variables_mean_unset():
    assert Settings.load({"MAILPOOLS_USER": " ", "MAILPOOLS_MAX_IPS_PER_REQUEST": ""}) == Settings()


def test_the_process_environment_is_read_when_none_is_given(monkeypatch):
    monkeypatch.setenv("MAILPOOLS_USER", "bruno")
    assert Settings.load().user == "bruno"


def test_the_configuration_file_sets_values_and_the_environment_wins():
    path = write_config(
        'user = "bruno"\ntheme = "ansi-light"\nmax_ips_per_request = 3\n'
        "now = 2026-11-20T08:00:00Z\n"
    )
    loaded = Settings.load({"MAILPOOLS_USER": "alice"})
    assert loaded.config_file == path
    assert loaded.user == "alice"
    assert loaded.theme == "ansi-light"
    assert loaded.max_ips_per_request == 3
    assert loaded.now == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_a_configuration_file_elsewhere_can_be_named(tmp_path):
    path = tmp_path / "other.toml"
    path.write_text('database_url = "sqlite:///elsewhere.db"\n', encoding="utf-8")
    assert Settings.load({}, config_file=path).database_url == "sqlite:///elsewhere.db"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (
            {"MAILPOOLS_MAX_IPS_PER_REQUEST": "ten"},
            "MAILPOOLS_MAX_IPS_PER_REQUEST must be a whole number, not 'ten'.",
        ),
        (
            {"MAILPOOLS_MAX_IPS_PER_REQUEST": "-2"},
            "MAILPOOLS_MAX_IPS_PER_REQUEST must be a whole number, not '-2'.",
        ),
        (
            {"MAILPOOLS_MAX_IPS_PER_REQUEST": "0"},
            "MAILPOOLS_MAX_IPS_PER_REQUEST must be at least 1.",
        ),
        (
            {"MAILPOOLS_MAX_IPS_PER_REQUEST": "٣"},
            "MAILPOOLS_MAX_IPS_PER_REQUEST must be a whole number, not '٣'.",
        ),
        (
            {"MAILPOOLS_MAX_IPS_PER_REQUEST": " 5 "},
            "MAILPOOLS_MAX_IPS_PER_REQUEST must be a whole number, not ' 5 '.",
        ),
        (
            {"MAILPOOLS_DNS_CHECK_MINUTES": "-5"},
            "MAILPOOLS_DNS_CHECK_MINUTES must be a whole number, 0 or more, not '-5'.",
        ),
        (
            {"MAILPOOLS_BLOCKLIST_ROTATION": "shared,private"},
            "MAILPOOLS_BLOCKLIST_ROTATION must be pool kinds (shared, transactional, dedicated) "
            "separated by commas, or none, not 'shared,private'.",
        ),
        (
            {"MAILPOOLS_NOW": "next tuesday"},
            "MAILPOOLS_NOW is not an ISO 8601 time: 'next tuesday' (try 2026-11-26T09:00:00)",
        ),
    ],
)
def test_a_bad_variable_is_refused_in_one_sentence_naming_it(environment, message):
    with pytest.raises(MailpoolsError) as refused:
        Settings.load(environment)
    assert refused.value.message == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_ips_per_request = 0\n", "max_ips_per_request in {path} must be at least 1."),
        ('now = "soon"\n', "now in {path} is not an ISO 8601 time: 'soon'"),
        ('colour = "red"\n', "{path} has an unknown setting 'colour'; it knows database_url,"),
        ("user = [1, 2]\n", "user in {path} must be a single value, not [1, 2]."),
        ("user = bruno\n", "{path} is not valid TOML:"),
    ],
)
def test_a_bad_configuration_file_is_refused_naming_the_file_and_key(text, message):
    path = write_config(text)
    with pytest.raises(MailpoolsError) as refused:
        Settings.load({})
    assert refused.value.message.startswith(message.format(path=path))
    assert "\n" not in refused.value.message


def test_the_command_line_reports_a_bad_setting_and_stops(monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("MAILPOOLS_MAX_IPS_PER_REQUEST", "lots")
    assert main(["domains", "list"]) == 1
    assert capsys.readouterr().err == (
        "mailpools: MAILPOOLS_MAX_IPS_PER_REQUEST must be a whole number, not 'lots'.\n"
    )


def test_settings_in_force_are_current_until_the_block_ends():
    assert settings.current() == Settings()
    configured = Settings(user="alice", now=datetime(2027, 3, 1, tzinfo=UTC))
    with settings.in_force(configured):
        assert settings.current() is configured
        assert clock.now() == datetime(2027, 3, 1, tzinfo=UTC)
    assert settings.current() == Settings()
    assert clock.now() == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_child_processes_get_the_settings_back_as_variables():
    configured = Settings(
        database_url="sqlite:///x.db", theme="ansi-light", now=datetime(2027, 3, 1, tzinfo=UTC)
    )
    variables = configured.as_environment()
    assert variables == {
        "MAILPOOLS_DATABASE_URL": "sqlite:///x.db",
        "MAILPOOLS_THEME": "ansi-light",
        "MAILPOOLS_MAX_IPS_PER_REQUEST": "10",
        "MAILPOOLS_SUBMISSION_MAX_BYTES": "10485760",
        "MAILPOOLS_SUBMISSION_MAX_RECIPIENTS": "100",
        "MAILPOOLS_ACCOUNT_HOURLY_LIMIT": "1000000",
        "MAILPOOLS_CONTENT_RETENTION_DAYS": "7",
        "MAILPOOLS_MESSAGE_RETENTION_DAYS": "90",
        "MAILPOOLS_AUTH_FAILURE_DELAY": "1.0",
        "MAILPOOLS_SOFT_BOUNCE_LIMIT": "3",
        "MAILPOOLS_INBOUND_MAX_BYTES": "10485760",
        "MAILPOOLS_NOW": "2027-03-01T00:00:00+00:00",
        "MAILPOOLS_DNS_TIMEOUT": "3.0",
        "MAILPOOLS_DNS_CHECK_MINUTES": "60",
        "MAILPOOLS_BLOCKLIST_ROTATION": "shared,transactional",
    }
    assert Settings.load(variables) == configured


def test_each_ssh_session_starts_its_console_with_the_servers_settings(monkeypatch):
    from app.ssh.server import console_environment

    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.setenv("MAILPOOLS_USER", "the-server-operator")
    # The server's own terminal size, which would pin every session's console to it.
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    configured = Settings(database_url="sqlite:///x.db", user="the-server-operator")
    environment = console_environment(configured)
    assert environment["MAILPOOLS_DATABASE_URL"] == "sqlite:///x.db"
    assert environment["MAILPOOLS_THEME"] == "ansi-dark"
    assert "MAILPOOLS_USER" not in environment and "COLORTERM" not in environment
    assert "COLUMNS" not in environment and "LINES" not in environment
    themed = console_environment(Settings(theme="ansi-light"))
    assert themed["MAILPOOLS_THEME"] == "ansi-light"
