"""Running `mailpools` from the tests.

Most tests call the command line's `main(argv)` in this process: the same
parser, handlers and error handling, without starting Python and importing
everything again for each command. The environment reaches it through
`monkeypatch.setenv`, as it would reach a real process. A few smoke tests run
`python -m app.cli` as a separate process, to keep the real entry point covered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CliResult:
    """What a command printed and how it ended, like `subprocess.CompletedProcess`."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run_in_process(args: tuple[str, ...]) -> CliResult:
    stdout, stderr = StringIO(), StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            returncode = main(list(args))
        except SystemExit as exit_:
            # argparse exits for usage errors and --help.
            code = exit_.code
            returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return CliResult(args, returncode, stdout.getvalue(), stderr.getvalue())


def run_in_subprocess(args: tuple[str, ...], environment: dict[str, str]) -> CliResult:
    completed = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return CliResult(args, completed.returncode, completed.stdout, completed.stderr)


class Cli:
    """`mailpools` against one database, acting only through --as (MAILPOOLS_USER is unset)."""

    def __init__(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch, *, separate_process: bool = False
    ):
        self.database_url = database_url
        self.monkeypatch = monkeypatch
        self.separate_process = separate_process

    def run(self, *args: str) -> CliResult:
        self.monkeypatch.setenv("MAILPOOLS_DATABASE_URL", self.database_url)
        self.monkeypatch.delenv("MAILPOOLS_USER", raising=False)
        if self.separate_process:
            return run_in_subprocess(args, {"MAILPOOLS_DATABASE_URL": self.database_url})
        return run_in_process(args)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, f"mailpools {' '.join(args)} failed: {result.stderr}"
        return result.stdout

    def json(self, *args: str):
        return json.loads(self.ok(*args, "--json"))

    def refused(self, *args: str) -> str:
        """The one sentence a refusal prints on stderr (exit 1, nothing on stdout)."""
        result = self.run(*args)
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert result.stdout == ""
        return lines[0]
