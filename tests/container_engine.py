"""The pod's images, built for real by podman with scripts/build_images.sh, for the container tests.

The base image debian:bookworm-slim is built from Debian's own packages with mmdebstrap and imported under
that name when no registry can be reached (nothing is pulled). The build's RUN steps reach packages the way
the host does: the host's network, and the host's pip configuration (its indexes, find-links, CA bundle)
mounted read-only, so the Dockerfile stays exactly what a user with internet builds.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from torchserve_runner import REPO

ENGINE_CONFIG = Path(__file__).resolve().parent / "podman" / "containers.conf"
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # the Dockerfile's default TORCH_INDEX_URL
TOOLS = ("podman", "runc", "catatonit", "mmdebstrap")
PIP = REPO / ".venv" / "bin" / "pip"


def check_usable() -> None:
    """Raises LookupError saying why the container tests cannot run on this machine."""
    if os.geteuid() != 0:
        raise LookupError("the container tests run podman as root (make test as root, as CI does)")
    missing = [
        tool
        for tool in TOOLS
        if not (
            shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists() or Path(f"/usr/libexec/podman/{tool}").exists()
        )
    ]
    if missing:
        raise LookupError(f"not installed: {', '.join(missing)} (make setup installs them when run as root on Debian)")
    info = podman("info", check=False)
    if info.returncode != 0:
        raise LookupError(f"podman does not run here: {info.stderr.strip()[-500:]}")


def podman(*args, check=True, timeout=None, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["podman", *map(str, args)],
        env={**os.environ, "CONTAINERS_CONF": str(ENGINE_CONFIG)},
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(map(str, args))} failed:\n{result.stderr[-4000:]}")
    return result


def ensure_base_image() -> None:
    if podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return
    with tempfile.TemporaryDirectory() as scratch:
        rootfs = Path(scratch) / "rootfs.tar"
        subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", "bookworm", str(rootfs)], check=True)
        podman("import", rootfs, BASE_IMAGE)


def build_images(log: Path) -> float:
    """Build both images with scripts/build_images.sh; returns the seconds it took. The build's output goes to `log`."""
    ensure_base_image()
    with tempfile.TemporaryDirectory() as scratch:
        options = ["--format=docker", "--network=host", *pip_access_options(Path(scratch))]
        env = {
            **os.environ,
            "CONTAINERS_CONF": str(ENGINE_CONFIG),
            "CONTAINER_ENGINE": "podman",
            "BUILD_OPTIONS": " ".join(options),
        }
        if not pytorch_cpu_index_reachable():
            env["TORCH_INDEX_URL"] = ""  # the same torch version, from PyPI (a CUDA build that runs on the CPU)
        started = time.monotonic()
        with open(log, "w") as output:
            result = subprocess.run(
                [str(REPO / "scripts" / "build_images.sh")], env=env, stdout=output, stderr=subprocess.STDOUT
            )
        if result.returncode != 0:
            raise RuntimeError(f"scripts/build_images.sh failed:\n{log.read_text()[-6000:]}")
        return time.monotonic() - started


def pytorch_cpu_index_reachable() -> bool:
    probe = subprocess.run(
        [
            str(PIP),
            "--isolated",
            "index",
            "versions",
            "torch",
            "--index-url",
            PYTORCH_CPU_INDEX,
            "--timeout",
            "10",
            "--retries",
            "0",
        ],
        capture_output=True,
    )
    return probe.returncode == 0


def pip_access_options(scratch: Path) -> list:
    """`-v` options that give the build's pip the host's pip settings: a pip.conf over /etc/pip.conf, and every
    local file or folder it names (indexes, find-links, CA bundle, constraints) mounted read-only under /host;
    and the CA bundle for the builds' other HTTPS clients."""
    listed = subprocess.run([str(PIP), "config", "list"], capture_output=True, text=True, check=True).stdout
    settings, mounts = {}, set()
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        name = key.split(".", 1)[1]  # "global.find-links" or ":env:.find-links"
        words = []
        for word in value.strip("'\"").split():
            local = word.removeprefix("file://")
            if local.startswith("/") and Path(local).exists():
                # A local index's pages link to its files by relative paths (../../files/...): mount the
                # folder that holds the index, not the index alone.
                mounts.add(str(Path(local).parent) if name.endswith("index-url") else local)
                word = word.replace(local, f"/host{local}")
            words.append(word)
        settings[name] = " ".join(words)
    pip_conf = scratch / "pip.conf"
    pip_conf.write_text("[global]\n" + "".join(f"{name} = {value}\n" for name, value in settings.items()))
    options = [f"-v={pip_conf}:/etc/pip.conf:ro"]
    if "cert" in settings:  # the same CA bundle for the auth-proxy image's curl (its Dockerfile's CA_BUNDLE)
        options.append(f"--build-arg=CA_BUNDLE={settings['cert']}")
    return options + [f"-v={path}:/host{path}:ro" for path in sorted(mounts) if not _inside_another(path, mounts)]


def _inside_another(path: str, folders: set) -> bool:
    return any(path != folder and Path(path).is_relative_to(folder) for folder in folders)
