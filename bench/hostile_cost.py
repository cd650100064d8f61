"""What reading each picture of the adversarial corpus (bench/hostile_corpus.py) costs a worker.

    python -m bench.hostile_cost                  # the whole corpus (~2 minutes), table to stdout and
                                                  # bench/results/hostile_cost.md
    python -m bench.hostile_cost --quick          # smaller sizes, fewer payloads
    python -m bench.hostile_cost --family structures

Each payload goes through the handler's own path before the model, request_pipeline.prepare_request, as a
worker runs it (one torch thread), in a child forked from a warmed-up process, twice: the growth of the
child's peak resident memory in the first reading (VmHWM, reset to the current RSS through
/proc/self/clear_refs just before), and the CPU time of the second (user + sys, from getrusage: not wall
time), as a long-running worker pays it. Printed per payload, with the
worst CPU-s per image, CPU-s per KB sent and VmHWM growth of the corpus, against the bounds of
docs/security.md.
"""

import argparse
import json
import os
import resource
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import RESULTS
from bench.hostile_corpus import Payload, corpus
from torchserve_runner import REPO
from torchserve_runner.handler_modules import put_handler_modules_on_path

put_handler_modules_on_path()

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from client.images import encode  # noqa: E402
from request_pipeline import prepare_request  # noqa: E402

TABLE = RESULTS / "hostile_cost.md"
# The bounds of issue #19 (docs/security.md): per picture, on this 2-core machine; a JPEG of the finest detail
# (progressive, 4096 px) is accepted at its cost, as phone photos are the same kind of file.
CPU_SECONDS_PER_IMAGE = 0.1
CPU_SECONDS_COSTLIEST_JPEG = 0.35
PEAK_GROWTH_MIB = 128


@dataclass
class Cost:
    name: str
    family: str
    kilobytes: float
    images: int
    answer: str  # "ok" or the refusal's status and type
    cpu_seconds: float
    peak_growth_mib: float

    @property
    def cpu_per_image(self) -> float:
        return self.cpu_seconds / self.images

    @property
    def cpu_per_kilobyte(self) -> float:
        return self.cpu_seconds / max(self.kilobytes, 1e-3)


def _peak_and_rss_kib() -> tuple:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _read_in_child(payload: Payload) -> dict:
    """Read the payload twice: the first time for the peak memory it adds to the process as forked, the
    second for its CPU time as a long-running worker pays it (the first also pays the copy-on-write of the
    forked process's pages it touches)."""
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)
    _, rss_before = _peak_and_rss_kib()
    prepare_request({"body": payload.body})
    peak, _ = _peak_and_rss_kib()
    cpu_before = _cpu_seconds()
    prepared = prepare_request({"body": payload.body})
    cpu = _cpu_seconds() - cpu_before
    error = prepared.error
    answer = "ok" if error is None else f"{error.status} {type(error).__name__}"
    return {"answer": answer, "cpu_seconds": cpu, "peak_growth_mib": (peak - rss_before) / 1024}


def measure(payload: Payload) -> Cost:
    """The payload read once in a forked child of this (warmed-up) process."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child: read, report, leave without running any of the parent's clean-up
        os.close(reader)
        try:
            report = _read_in_child(payload)
        except BaseException as error:  # an exception escaping prepare_request is itself a finding
            report = {
                "answer": f"raised {type(error).__name__}: {error}"[:200],
                "cpu_seconds": 0.0,
                "peak_growth_mib": 0.0,
            }
        with os.fdopen(writer, "w") as pipe:
            json.dump(report, pipe)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        text = pipe.read()
    _, status = os.waitpid(child, 0)
    report = (
        json.loads(text)
        if text
        else {"answer": f"child died (wait status {status})", "cpu_seconds": 0.0, "peak_growth_mib": 0.0}
    )
    return Cost(payload.name, payload.family, len(payload.body) / 1024, payload.images, **report)


def warm_up() -> None:
    """Run every step once as a worker does (one torch thread), so a child's figures are the payload's,
    not first-use costs: the committed seven, and a seven drawn on a page as a JPEG."""
    torch.set_num_threads(1)
    page = Image.new("L", (400, 300), 230)
    ImageDraw.Draw(page).line([(150, 80), (250, 80), (190, 230)], fill=20, width=12)
    for body in ((REPO / "tests" / "images" / "seven.png").read_bytes(), encode(page, "JPEG")):
        assert prepare_request({"body": body}).error is None


def table(costs: list) -> str:
    lines = [
        "| payload | family | KB sent | images | answer | CPU s | CPU s / image | CPU ms / KB | peak growth MiB |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for cost in sorted(costs, key=lambda c: -c.cpu_per_image):
        lines.append(
            f"| {cost.name} | {cost.family} | {cost.kilobytes:,.1f} | {cost.images} | {cost.answer} | "
            f"{cost.cpu_seconds:.3f} | "
            f"{cost.cpu_per_image:.3f} | {1000 * cost.cpu_per_kilobyte:.3f} | {cost.peak_growth_mib:.1f} |"
        )
    return "\n".join(lines)


def summary(costs: list) -> str:
    worst_cpu = max(costs, key=lambda c: c.cpu_per_image)
    worst_kb = max(costs, key=lambda c: c.cpu_per_kilobyte)
    worst_peak = max(costs, key=lambda c: c.peak_growth_mib)
    return "\n".join(
        [
            f"worst CPU per image: {worst_cpu.cpu_per_image:.3f} s ({worst_cpu.name}; bound {CPU_SECONDS_PER_IMAGE} s, "
            f"{CPU_SECONDS_COSTLIEST_JPEG} s for the costliest JPEGs)",
            f"worst CPU per KB sent: {1000 * worst_kb.cpu_per_kilobyte:.3f} ms ({worst_kb.name})",
            f"worst peak memory growth: {worst_peak.peak_growth_mib:.1f} MiB ({worst_peak.name}; "
            f"bound {PEAK_GROWTH_MIB} MiB)",
            f"escaped prepare_request: {sum(c.answer.startswith(('raised', 'child died')) for c in costs)}",
        ]
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer payloads")
    parser.add_argument(
        "--family", action="append", help="only this family (patterns, modes, formats, structures, batches)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where to write the table (default {TABLE.relative_to(REPO)} for a full run)",
    )
    args = parser.parse_args(argv)
    warm_up()
    costs = []
    for payload in corpus(quick=args.quick, families=args.family):
        cost = measure(payload)
        costs.append(cost)
        print(
            f"{cost.name:<44} {cost.answer:<28} {cost.cpu_seconds:7.3f} CPU s  {cost.peak_growth_mib:7.1f} MiB",
            flush=True,
        )
    text = f"{table(costs)}\n\n{summary(costs)}\n"
    print("\n" + text)
    out = args.out or (TABLE if not (args.quick or args.family) else None)
    if out:
        out.write_text(
            "# Hostile corpus: what reading each payload costs a worker\n\n"
            "`python -m bench.hostile_cost` (bench/hostile_corpus.py); CPU from getrusage, peak from VmHWM, "
            "in a child forked per payload.\n\n" + text
        )
        (out.with_suffix(".json")).write_text(json.dumps([asdict(c) for c in costs], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
