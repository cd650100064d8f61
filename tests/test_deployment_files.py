"""What needs Docker or a cluster, checked here without either: the linters, and the contract of the
rendered Kubernetes manifests (only the auth proxy is exposed, probes ask the management API, hardening)."""

import fnmatch
import re
import subprocess

import pytest
import yaml

from tests.torchserve_server import REPO

BIN = REPO / ".venv" / "bin"
KUBERNETES_VERSION = "1.33.0"  # minikube's default Kubernetes at the time of writing
SHELL_SCRIPTS = sorted([REPO / "build_mar.sh", REPO / ".ci" / "run", *(REPO / "scripts").glob("*.sh")])


def run(*command, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], input=stdin, capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def rendered() -> str:
    result = run(BIN / "kubectl", "kustomize", "k8s")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def resources(rendered) -> dict:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(rendered)}


@pytest.fixture(scope="module")
def pod(resources) -> dict:
    return resources[("Deployment", "mnist")]["spec"]["template"]


def containers(pod) -> dict:
    return {container["name"]: container for container in pod["spec"]["containers"]}


def test_hadolint_passes():
    result = run(BIN / "hadolint", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifests_are_valid_kubernetes_objects(rendered):
    result = run(BIN / "kubernetes-validate", "--strict", "-k", KUBERNETES_VERSION, "-", stdin=rendered)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_passes():
    result = run(BIN / "yamllint", "--strict", "k8s", ".yamllint")
    assert result.returncode == 0, result.stdout


def test_shellcheck_passes():
    result = run(BIN / "shellcheck", *SHELL_SCRIPTS)
    assert result.returncode == 0, result.stdout


def test_only_the_auth_proxy_is_exposed_on_node_port_30001(resources, pod):
    services = [doc for (kind, _), doc in resources.items() if kind == "Service"]
    assert len(services) == 1
    (port,) = services[0]["spec"]["ports"]
    assert services[0]["spec"]["type"] == "NodePort" and port["nodePort"] == 30001
    owners = {p["name"]: (c["name"], p["containerPort"]) for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    assert owners[port["targetPort"]] == ("auth-proxy", 8000)
    exposed_by_services = {p["targetPort"] for s in services for p in s["spec"]["ports"]}
    assert not exposed_by_services & {8080, 8081, 8082, "metrics"}


def test_torchserve_apis_stay_on_loopback_in_the_pod(pod):
    env = {e["name"]: e for e in containers(pod)["torchserve"]["env"]}
    # Inference and management keep config.properties' 127.0.0.1; only metrics open up, for Prometheus.
    assert "TS_INFERENCE_ADDRESS" not in env and "TS_MANAGEMENT_ADDRESS" not in env
    assert env["TS_METRICS_ADDRESS"]["value"].endswith(":8082")
    config = (REPO / "config" / "config.properties").read_text()
    assert "inference_address=http://127.0.0.1:8080" in config
    assert "management_address=http://127.0.0.1:8081" in config
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "8082"


def test_probes_ask_the_management_api_for_ready_workers(pod):
    torchserve = containers(pod)["torchserve"]
    for probe in ("startupProbe", "readinessProbe"):
        assert torchserve[probe]["exec"]["command"] == ["python", "model_ready.py"]
    assert torchserve["livenessProbe"]["exec"]["command"] == ["python", "model_ready.py", "--frontend"]
    probe_source = (REPO / "scripts" / "model_ready.py").read_text()
    assert '"http://127.0.0.1:8081"' in probe_source and '"mnist"' in probe_source
    assert "/models/{MODEL}" in probe_source


def test_workers_follow_the_cpu_limit(pod):
    torchserve = containers(pod)["torchserve"]
    (workers,) = [e for e in torchserve["env"] if e["name"] == "TS_DEFAULT_WORKERS_PER_MODEL"]
    assert workers["valueFrom"]["resourceFieldRef"] == {"resource": "limits.cpu", "divisor": "1"}


def test_every_container_is_hardened_and_bounded(pod):
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["spec"]["automountServiceAccountToken"] is False
    for container in pod["spec"]["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
        writable = {mount["mountPath"] for mount in container["volumeMounts"] if not mount.get("readOnly")}
        emptydirs = {v["name"] for v in pod["spec"]["volumes"] if "emptyDir" in v}
        assert all(m["name"] in emptydirs for m in container["volumeMounts"] if m["mountPath"] in writable)


def test_autoscaling_and_disruption_budget(resources, pod):
    hpa = resources[("HorizontalPodAutoscaler", "mnist")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "mnist"
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["averageUtilization"] == 70
    pdb = resources[("PodDisruptionBudget", "mnist")]["spec"]
    assert pdb["minAvailable"] == 1
    assert pdb["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_image_tag_has_one_source(pod):
    kustomization = yaml.safe_load((REPO / "k8s" / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    assert containers(pod)["torchserve"]["image"] == f"mnist-torchserve:{image['newTag']}"
    assert "k8s/kustomization.yaml" in (REPO / "scripts" / "build_docker.sh").read_text()


def test_docker_context_holds_exactly_what_the_dockerfile_copies():
    allowed = [line[1:] for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    sources = []
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            sources += [part for part in line.split()[1:-1] if not part.startswith("--")]
    for source in sources:
        files = [p for p in REPO.glob(source.rstrip("/") + ("/*" if source.endswith("/") else "")) if p.is_file()]
        assert files, f"Dockerfile copies {source}, which does not exist"
        for file in files:
            relative = str(file.relative_to(REPO))
            assert any(fnmatch.fnmatch(relative, pattern) for pattern in allowed), f"{relative} is not in .dockerignore's allowlist"
    assert (REPO / ".dockerignore").read_text().splitlines()[1] == "*"  # everything else stays out


def test_container_never_runs_as_root():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert not re.search(r"^USER\s+(root|0)\b", dockerfile, re.MULTILINE)
    assert 'test "$(id -u)" = 1000' in dockerfile
