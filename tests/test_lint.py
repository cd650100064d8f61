"""ruff, pinned in requirements/dev.txt and configured in ruff.toml: the Python lints clean and is formatted
as `ruff format` writes it (run `.venv/bin/ruff format .` to apply). In make test-fast, and so in make test."""

import subprocess

import pytest

from torchserve_runner import REPO

RUFF = REPO / ".venv" / "bin" / "ruff"


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["check", "format"])
def test_ruff_passes(command):
    result = subprocess.run([str(RUFF), *command], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
