"""scripts/memory_budget.sh's figures and arithmetic, asked of the script itself (bash), so the tests
check the pod against the numbers the entrypoint and `make scale` use, never a copy of them."""

import subprocess
from dataclasses import dataclass

from torchserve_runner.server import REPO

SCRIPT = REPO / "scripts" / "memory_budget.sh"


def _bash(expression: str, *args: str) -> str:
    command = f'source "{SCRIPT}"; {expression}'
    return subprocess.run(
        ["bash", "-c", command, "bash", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@dataclass(frozen=True)
class MemoryBudget:
    worker_mib: int
    margin_percent: int

    @staticmethod
    def frontend_mib(vmargs: str) -> int:
        """The frontend's ceiling with these JVM options (heap, direct buffers, the JVM's own)."""
        return int(_bash('frontend_mib "$1"', vmargs))


def memory_budget() -> MemoryBudget:
    worker, margin = _bash('echo "$WORKER_MIB $MARGIN_PERCENT"').split()
    return MemoryBudget(int(worker), int(margin))
