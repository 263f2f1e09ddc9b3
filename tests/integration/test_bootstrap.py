"""The first `make test` or `make demo` says what it is doing and keeps pip's output in a log.

The repository's Makefile runs in a scratch folder whose `.venv/bin/python` stands in
for the real one: it answers like pip, chattering on both streams, and succeeds or
fails as the test asks. So the Makefile's own behaviour is what is tested, quickly and
without the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIP_CHATTER = "Collecting textual (from mailpools==0.1.0)"
SETUPTOOLS_WARNING = "SetuptoolsDeprecationWarning: editable install"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

STAND_IN_PYTHON = f"""#!/bin/sh
echo "{PIP_CHATTER}"
echo "{SETUPTOOLS_WARNING}" >&2
echo "$*" >> "$(dirname "$0")/../pip-calls"
exit "${{PIP_EXIT:-0}}"
"""


def bootstrap(folder: Path, *, pip_exit: int) -> subprocess.CompletedProcess[str]:
    shutil.copyfile(ROOT / "Makefile", folder / "Makefile")
    (folder / "pyproject.toml").write_text("")
    (folder / "constraints.txt").write_text("")
    python = folder / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(STAND_IN_PYTHON)
    python.chmod(0o755)
    return subprocess.run(
        ["make", "--no-print-directory", ".venv/.installed"],
        cwd=folder,
        env={**os.environ, "PIP_EXIT": str(pip_exit)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_first_install_says_what_it_does_and_logs_pips_output(tmp_path):
    result = bootstrap(tmp_path, pip_exit=0)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Installing dependencies into .venv: about a minute")
    assert "only the first time" in result.stdout
    assert result.stdout.rstrip().endswith("Dependencies installed.")
    shown = result.stdout + result.stderr
    assert PIP_CHATTER not in shown and SETUPTOOLS_WARNING not in shown
    log = (tmp_path / ".venv" / "install.log").read_text()
    assert PIP_CHATTER in log and SETUPTOOLS_WARNING in log
    assert "-e .[test]" in (tmp_path / ".venv" / "pip-calls").read_text()
    assert (tmp_path / ".venv" / ".installed").exists()


def test_a_failed_install_shows_pips_output_and_where_it_is_kept(tmp_path):
    result = bootstrap(tmp_path, pip_exit=1)
    assert result.returncode != 0
    assert result.stdout.startswith("Installing dependencies into .venv")
    assert PIP_CHATTER in result.stdout and SETUPTOOLS_WARNING in result.stdout
    assert "Installing the dependencies failed" in result.stdout
    assert ".venv/install.log" in result.stdout
    assert "Dependencies installed." not in result.stdout
    assert not (tmp_path / ".venv" / ".installed").exists()
