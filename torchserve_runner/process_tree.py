"""A server started in a session of its own, and everything it started: listed, and stopped for sure.
Used for TorchServe (torchserve_runner.server) and for the benchmark's peer servers (bench/peers)."""

import os
import signal
import subprocess
from pathlib import Path

import psutil


def family(process: subprocess.Popen) -> list:
    """The process and every descendant still alive."""
    try:
        root = psutil.Process(process.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def is_alive(process: psutil.Process) -> bool:
    """Running and not a zombie (a child that ended but was not reaped yet)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident memory so far (Linux's VmHWM in /proc/<pid>/status; psutil has no peak)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024


def reset_peak_rss(pid: int) -> int:
    """Set the process's peak resident memory (VmHWM) to its resident memory now, and return that (bytes):
    growth measured from here is this moment's, not a peak an earlier request left (Linux >= 4.0; the
    process must be this user's, or root's to touch)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return peak_rss_bytes(pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far, from /proc/<pid>/stat (not wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15


def stop_servers_on_sigterm() -> None:
    """Make SIGTERM end this process as Ctrl-C does, through its `finally` blocks, which stop the servers it
    started: those run in sessions of their own (stop_session), so SIGTERM's default, an exit on the spot,
    would leave them running. The exit status stays a SIGTERM's (128 + 15)."""
    signal.signal(signal.SIGTERM, _exit_through_finally)


def _exit_through_finally(signum: int, frame) -> None:
    raise SystemExit(128 + signum)


def stop_session(process: subprocess.Popen, grace_seconds: float) -> list:
    """SIGTERM to the process's session (as Kubernetes or Ctrl-C would send it), then SIGKILL to whatever
    of the family outlived it by `grace_seconds`; returns once the process is reaped, with the PIDs of any
    of the family still alive then (none, unless a process ignores SIGKILL)."""
    members = family(process)
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    _, alive = psutil.wait_procs(members, timeout=grace_seconds)
    kill(alive)
    process.wait()
    return [member.pid for member in members if is_alive(member)]


def kill(processes: list, timeout: float = 5) -> None:
    """SIGKILL to each of `processes` still there, in their order, then wait up to `timeout` for them."""
    for member in processes:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=timeout)
