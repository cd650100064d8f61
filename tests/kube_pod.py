"""One pod of a rendered Kubernetes Deployment, run by podman the way a kubelet would run it.

Read from the manifest, nothing copied by hand: every container with its image, command, env (values,
Secret keys, resource fields), securityContext (user, groups, read-only root, capabilities, privilege
escalation), volume mounts (emptyDir, ConfigMap) and resource limits; the containers share one network
namespace of their own, with only loopback, as a pod's containers do. Probes and preStop hooks are run
as the kubelet runs them. HTTP requests are sent from threads that have entered the pod's network
namespace (setns, as root), so they reach 127.0.0.1:<port> of the pod itself, and a closed port is refused.
"""

import concurrent.futures
import ctypes
import math
import subprocess
import threading
import time
import uuid
from pathlib import Path

import requests

from tests.container_engine import podman

CLONE_NEWNET = 0x40000000

_MEMORY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


class KubePod:
    LABEL = "mnist-rehearsal"  # on every pod this starts, so a run can remove what an interrupted one left

    def __init__(self, resources: dict, workdir: Path, secrets: dict, deployment: str = "mnist"):
        """`resources`: the rendered objects by (kind, name); `secrets`: Secret name -> {key: value}."""
        self.spec = resources[("Deployment", deployment)]["spec"]["template"]["spec"]
        self.config_maps = {name: doc["data"] for (kind, name), doc in resources.items() if kind == "ConfigMap"}
        self.secrets = secrets
        self.workdir = workdir
        self.name = f"{deployment}-{uuid.uuid4().hex[:8]}"
        self.containers = {container["name"]: container for container in self.spec["containers"]}
        self.network = None  # threads inside the pod's network namespace, once it exists
        self.network_pid = None  # a process in that namespace, as the host sees it (for nsenter)
        self.stop_signalled_at = {}  # container name -> time.monotonic() of its stop signal (terminate)

    # Start and stop

    def start(self) -> "KubePod":
        podman("pod", "create", "--name", self.name, "--label", self.LABEL, "--network=none")
        volumes = self._make_volumes()
        for container in self.spec["containers"]:
            podman(
                "run",
                "--detach",
                "--pull=never",
                "--pod",
                self.name,
                "--name",
                self.container_id(container["name"]),
                *self._run_options(container, volumes),
                container["image"],
                *container.get("args", []),
            )
        infra = podman("pod", "inspect", "--format", "{{.InfraContainerID}}", self.name).stdout.strip()
        self.network_pid = int(podman("inspect", "--format", "{{.State.Pid}}", infra).stdout)
        netns = f"/proc/{self.network_pid}/ns/net"
        self.network = concurrent.futures.ThreadPoolExecutor(
            32, initializer=_enter_network_namespace, initargs=(netns,)
        )
        return self

    def terminate(self) -> dict:
        """As the kubelet deletes a pod: each container's preStop hook, then its image's stop signal, then
        SIGKILL when terminationGracePeriodSeconds (counted from the start) run out. Returns the exit codes;
        stop_signalled_at[name] is when each container was sent its stop signal (time.monotonic())."""
        deadline = time.monotonic() + self.spec.get("terminationGracePeriodSeconds", 30)

        def stop(name):
            hook = self.containers[name].get("lifecycle", {}).get("preStop")
            if hook:
                self._run_handler(name, hook, timeout=max(deadline - time.monotonic(), 1))
            self.stop_signalled_at[name] = time.monotonic()
            podman(
                "stop", "--time", max(math.ceil(deadline - time.monotonic()), 1), self.container_id(name), check=False
            )

        threads = [threading.Thread(target=stop, args=(name,)) for name in self.containers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {name: self.exit_code(name) for name in self.containers}

    def remove(self) -> None:
        if self.network is not None:
            self.network.shutdown(cancel_futures=True)
        podman("pod", "rm", "--force", "--time", "0", self.name, check=False)

    @classmethod
    def remove_leftovers(cls) -> None:
        podman("pod", "rm", "--force", "--time", "0", "--filter", f"label={cls.LABEL}", check=False)

    # Looking at it

    def container_id(self, name: str) -> str:
        return f"{self.name}-{name}"

    def exit_code(self, name: str):
        """The container's exit code, or None while it runs."""
        state = podman(
            "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.container_id(name)
        ).stdout.split()
        return int(state[1]) if state[0] in ("exited", "stopped") else None

    def host_pid(self, name: str) -> int:
        """The container's first process, as the host sees it."""
        return int(podman("inspect", "--format", "{{.State.Pid}}", self.container_id(name)).stdout)

    def logs(self, name: str) -> str:
        result = podman("logs", self.container_id(name), check=False)
        return (result.stdout + result.stderr)[-20_000:]

    def exec(self, name: str, *command, timeout=None) -> subprocess.CompletedProcess:
        return podman("exec", self.container_id(name), *command, check=False, timeout=timeout)

    def request(self, method: str, port: int, path: str, **kwargs) -> requests.Response:
        """An HTTP request to 127.0.0.1:`port` inside the pod, sent from a thread in its network namespace."""
        url = f"http://127.0.0.1:{port}{path}"
        return self.network.submit(requests.request, method, url, **{"timeout": 60, **kwargs}).result()

    # Probes

    def probe(self, name: str, kind: str) -> bool:
        """One run of the container's `kind` probe (startupProbe, readinessProbe, livenessProbe), as the kubelet
        runs it."""
        probe = self.containers[name][kind]
        return self._run_handler(name, probe, timeout=probe.get("timeoutSeconds", 1))

    def wait_until(self, name: str, kind: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.probe(name, kind):
            if time.monotonic() > deadline or self.exit_code(name) is not None:
                raise RuntimeError(f"{name}'s {kind} never passed; its log:\n{self.logs(name)}")
            time.sleep(1)

    def _run_handler(self, name: str, handler: dict, timeout: float) -> bool:
        if "exec" in handler:
            try:
                return self.exec(name, *handler["exec"]["command"], timeout=timeout).returncode == 0
            except subprocess.TimeoutExpired:
                return False
        if "httpGet" in handler:
            port = self._port_number(name, handler["httpGet"]["port"])
            try:
                answer = self.request("GET", port, handler["httpGet"].get("path", "/"), timeout=timeout)
            except requests.RequestException:
                return False
            return 200 <= answer.status_code < 400
        if "sleep" in handler:
            time.sleep(min(handler["sleep"]["seconds"], timeout))
            return True
        raise NotImplementedError(f"handler {sorted(handler)} of {name}")

    def _port_number(self, name: str, port) -> int:
        if isinstance(port, int):
            return port
        (number,) = [p["containerPort"] for p in self.containers[name].get("ports", []) if p.get("name") == port]
        return number

    # From the manifest to podman's options

    def _make_volumes(self) -> dict:
        """Volume name -> a host folder: an empty one for an emptyDir, the ConfigMap's files for a configMap."""
        fs_group = self.spec.get("securityContext", {}).get("fsGroup")
        folders = {}
        for volume in self.spec.get("volumes", []):
            folder = self.workdir / "volumes" / volume["name"]
            folder.mkdir(parents=True)
            if "configMap" in volume:
                for file_name, text in self.config_maps[volume["configMap"]["name"]].items():
                    (folder / file_name).write_text(text)
                    (folder / file_name).chmod(0o644)
            elif "emptyDir" not in volume:
                raise NotImplementedError(f"volume {volume['name']}: only emptyDir and configMap are rehearsed")
            folder.chmod(0o777)  # as the kubelet makes an emptyDir
            if fs_group is not None:
                subprocess.run(["chgrp", str(fs_group), str(folder)], check=True)
            folders[volume["name"]] = folder
        return folders

    def _run_options(self, container: dict, volumes: dict) -> list:
        pod_security = self.spec.get("securityContext", {})
        security = {**pod_security, **container.get("securityContext", {})}
        user, group = security.get("runAsUser"), security.get("runAsGroup")
        if security.get("runAsNonRoot") and not user:
            raise AssertionError(f"{container['name']}: runAsNonRoot without a runAsUser cannot be checked here")
        options = []
        if user is not None:
            options.append(f"--user={user}:{group if group is not None else user}")
        if "fsGroup" in pod_security:
            options.append(f"--group-add={pod_security['fsGroup']}")
        if security.get("readOnlyRootFilesystem"):
            options += ["--read-only", "--read-only-tmpfs=false"]  # no writable /tmp unless the manifest mounts one
        capabilities = security.get("capabilities", {})
        options += [f"--cap-drop={cap.lower()}" for cap in capabilities.get("drop", [])]
        options += [f"--cap-add={cap.lower()}" for cap in capabilities.get("add", [])]
        if security.get("allowPrivilegeEscalation") is False:
            options.append("--security-opt=no-new-privileges")
        limits = container.get("resources", {}).get("limits", {})
        if "memory" in limits:
            options.append(f"--memory={_bytes(limits['memory'])}")
        if "cpu" in limits:
            options.append(f"--cpus={_cpus(limits['cpu'])}")
        for env in container.get("env", []):
            options.append(f"--env={env['name']}={self._env_value(container, env)}")
        for mount in container.get("volumeMounts", []):
            read_only = ":ro" if mount.get("readOnly") else ""
            options.append(f"--volume={volumes[mount['name']]}:{mount['mountPath']}{read_only}")
        if "command" in container:
            options.append(f"--entrypoint={container['command'][0]}")
        if "workingDir" in container:
            options.append(f"--workdir={container['workingDir']}")
        return options

    def _env_value(self, container: dict, env: dict) -> str:
        if "value" in env:
            return env["value"]
        source = env["valueFrom"]
        if "secretKeyRef" in source:
            return self.secrets[source["secretKeyRef"]["name"]][source["secretKeyRef"]["key"]]
        if "resourceFieldRef" in source:
            field = source["resourceFieldRef"]
            section, resource = field["resource"].split(".")
            quantity = container["resources"][section][resource]
            return str(math.ceil(_cpus(quantity) / _cpus(field.get("divisor", "1"))))
        raise NotImplementedError(f"env {env['name']}: {sorted(source)}")


def _enter_network_namespace(path: str) -> None:
    """Move the calling thread (only it) into the network namespace at `path`."""
    with open(path) as namespace:
        if ctypes.CDLL(None, use_errno=True).setns(namespace.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({path})")


def _bytes(quantity: str) -> int:
    for suffix, factor in _MEMORY_UNITS.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


def _cpus(quantity) -> float:
    quantity = str(quantity)
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)
