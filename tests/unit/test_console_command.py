"""Who plain `mailpools` opens the console for: $MAILPOOLS_USER, else the configuration file."""

from __future__ import annotations

import pytest

from app.cli.console import default_user_name
from app.errors import MailpoolsError
from app.settings import Settings, config_path


@pytest.fixture(autouse=True)
def own_config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("MAILPOOLS_USER", raising=False)


def write_config(text: str) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_environment_wins(monkeypatch):
    write_config('user = "bruno"\n')
    monkeypatch.setenv("MAILPOOLS_USER", "alice")
    assert default_user_name(Settings.load()) == "alice"


def test_the_configuration_file_names_the_user(tmp_path):
    write_config('user = "bruno"\n')
    assert config_path() == tmp_path / "mailpools" / "config.toml"
    assert default_user_name(Settings.load()) == "bruno"


def test_no_user_anywhere_says_how_to_set_one():
    with pytest.raises(MailpoolsError, match="set MAILPOOLS_USER, or write user"):
        default_user_name(Settings.load())


def test_a_file_without_a_user_or_not_toml_is_explained():
    write_config('theme = "ansi-light"\n')
    with pytest.raises(MailpoolsError, match="has no user"):
        default_user_name(Settings.load())
    write_config("user = bruno\n")
    with pytest.raises(MailpoolsError, match="is not valid TOML"):
        default_user_name(Settings.load())


def test_plain_mailpools_without_a_default_user_explains_and_fails(capsys):
    from app.cli import main

    assert main([]) == 1
    assert "No default user: set MAILPOOLS_USER" in capsys.readouterr().err


def test_an_unknown_user_is_refused_before_the_console_opens(sqlite_url, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("MAILPOOLS_DATABASE_URL", sqlite_url)
    assert main(["console", "--as", "nobody"]) == 1
    assert "There is no user named 'nobody'." in capsys.readouterr().err
