"""Drive load with hey (a real HTTP load generator) and read its summary into numbers."""

import math
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float  # NaN when hey had fewer than 100 answers: it reports no 99th percentile then
    ok: int  # 2xx answers
    errors: int  # non-2xx answers and transport errors


def hey_path() -> str:
    path = shutil.which("hey")
    if path is None:
        raise RuntimeError("hey is not installed: make setup installs it as root, or: sudo apt-get install hey")
    return path


def hey_command(url: str, seconds: float, concurrency: int, headers: dict, body: Path = None, method="POST") -> list:
    """hey sending for `seconds` from `concurrency` connections; its summary goes to stdout."""
    command = [hey_path(), "-z", f"{seconds}s", "-c", str(concurrency), "-m", method, "-t", "30"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if body is not None:
        command += ["-D", str(body)]
    return [*command, url]


def run_hey(url: str, seconds: float, concurrency: int, headers: dict, body: Path = None, method="POST") -> LoadResult:
    command = hey_command(url, seconds, concurrency, headers, body, method)
    return parse_summary(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def latency_cell(ms: float) -> str:
    """A latency for a table, or "–" where the run gave none (NaN)."""
    return "–" if math.isnan(ms) else f"{ms:.1f}"


def median_of_measured(values) -> float:
    """The median of the values that were measured (not NaN); NaN when none was."""
    measured = [value for value in values if not math.isnan(value)]
    return statistics.median(measured) if measured else math.nan


def parse_summary(summary: str) -> LoadResult:
    def latency_ms(percent: int) -> float:
        match = re.search(rf"^\s*{percent}% in ([\d.]+) secs", summary, re.MULTILINE)
        return float(match.group(1)) * 1000 if match else float("nan")

    statuses = {int(code): int(count) for code, count in re.findall(r"\[(\d{3})\]\s+(\d+) responses", summary)}
    transport_errors = sum(
        int(count) for count in re.findall(r"^\s*\[(\d+)\]\s+(?!.*responses)", summary, re.MULTILINE)
    )
    ok = sum(count for code, count in statuses.items() if 200 <= code < 300)
    return LoadResult(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", summary).group(1)),
        p50_ms=latency_ms(50),
        p90_ms=latency_ms(90),
        p99_ms=latency_ms(99),
        ok=ok,
        errors=sum(statuses.values()) - ok + transport_errors,
    )
