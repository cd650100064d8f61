"""A bounded atheris run over the decoding and preprocessing code, seeded with real images."""

import importlib
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import IMAGES, require_tool
from torchserve_runner import REPO

pytestmark = pytest.mark.slow

RUNS = 20_000


def test_fuzzing_finds_no_crash(tmp_path):
    require_tool("atheris", lambda: importlib.import_module("atheris"))  # requirements install it on Linux
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for image in IMAGES.iterdir():
        # the first byte picks the request form (raw body) in fuzz_prepare_request.one_input
        (corpus / image.name).write_bytes(b"\x00" + image.read_bytes())
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "fuzz_prepare_request.py"),
            f"-runs={RUNS}",
            "-max_total_time=120",
            "-rss_limit_mb=3072",
            "-max_len=65536",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # where libFuzzer leaves a crash's input
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    done = re.search(r"Done (\d+) runs", output)
    print(f"\natheris: {done.group(0) if done else 'no summary'}")
    assert done and int(done.group(1)) > 0
