"""The short soak (30 s): every answer right, no memory growth past 10 %, the workers' memory not rising
with the requests (bench/soak.py MAX_WORKER_KIB_PER_REQUEST), no descriptor or temp-file leak."""

import json
import subprocess
import sys

import pytest

from torchserve_runner import REPO

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_short_soak_passes_its_checks():
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seconds", "30"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert report["total_requests"] > 0 and report["unexpected_count"] == 0, report["unexpected"]
    assert all(report["checks"].values()), report["checks"]
