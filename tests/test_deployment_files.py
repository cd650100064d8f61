"""What needs Docker or a cluster, checked here without either: the linters, and the contract of the
rendered Kubernetes manifests (only the auth proxy is exposed, probes ask the management API, hardening)."""

import fnmatch
import os
import re
import subprocess

import pytest
import yaml

from torchserve_runner import REPO, serving_config

BIN = REPO / ".venv" / "bin"
KUBERNETES_VERSION = "1.33.0"  # minikube's default Kubernetes at the time of writing
SHELL_SCRIPTS = sorted([REPO / "build_mar.sh", REPO / ".ci" / "run", REPO / "auth_proxy" / "start.sh", *(REPO / "scripts").glob("*.sh")])


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
    result = run(BIN / "hadolint", "Dockerfile", "auth_proxy/Dockerfile")
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
        assert torchserve[probe]["exec"]["command"] == ["python3", "-I", "model_ready.py"]
    # Liveness starts no Python: the frontend answering its metrics port is enough.
    assert torchserve["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    # What the probe asks, and that it passes only with a READY worker: tests/test_container_start.py and
    # the pod rehearsal run it against a real TorchServe.


def test_every_container_is_hardened_and_guaranteed(pod):
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["spec"]["automountServiceAccountToken"] is False
    for container in pod["spec"]["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        # Requests = limits for CPU and memory in every container: the pod's QoS class is Guaranteed.
        assert container["resources"]["requests"] == container["resources"]["limits"]
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        writable = {mount["mountPath"] for mount in container["volumeMounts"] if not mount.get("readOnly")}
        emptydirs = {v["name"] for v in pod["spec"]["volumes"] if "emptyDir" in v}
        assert all(m["name"] in emptydirs for m in container["volumeMounts"] if m["mountPath"] in writable)


def test_namespace_enforces_the_restricted_pod_security_standard(resources):
    labels = resources[("Namespace", "mnist")]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_network_policy_lets_in_only_the_proxy_and_the_metrics_scrape(resources, pod):
    policy = resources[("NetworkPolicy", "mnist")]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert policy["policyTypes"] == ["Ingress"]
    ports = sorted(port["port"] for rule in policy["ingress"] for port in rule["ports"])
    assert ports == ["http", "metrics"]
    (metrics_rule,) = [rule for rule in policy["ingress"] if rule["ports"] == [{"port": "metrics"}]]
    assert metrics_rule["from"]  # the scrape only from where Prometheus runs, not from anywhere


# What minikube's own pods request of a node (CPU: apiserver 250m, controller-manager 200m, scheduler 100m,
# etcd 100m, coredns 100m; memory: etcd 100Mi, coredns 70Mi), and what docs/kubernetes.md tells users to
# start minikube with (--cpus 4 --memory 8g).
MINIKUBE_SYSTEM_CPU = 0.75
MINIKUBE_SYSTEM_MEMORY_MIB = 170
MINIKUBE_CPUS = 4
MINIKUBE_MEMORY_MIB = 8 * 1024


def test_a_4_cpu_minikube_holds_the_most_replicas_plus_the_rolling_update_surge(resources, pod):
    deployment = resources[("Deployment", "mnist")]["spec"]
    assert "replicas" not in deployment  # the HPA owns the count; apply must not reset it
    rollout = deployment["strategy"]["rollingUpdate"]
    assert rollout == {"maxSurge": 1, "maxUnavailable": 0}  # a new pod is Ready before an old one goes
    pods_at_most = resources[("HorizontalPodAutoscaler", "mnist")]["spec"]["maxReplicas"] + rollout["maxSurge"]
    pod_cpu = sum(cpus(c["resources"]["requests"]["cpu"]) for c in pod["spec"]["containers"])
    pod_memory = sum(mebibytes(c["resources"]["requests"]["memory"]) for c in pod["spec"]["containers"])
    assert pods_at_most * pod_cpu <= MINIKUBE_CPUS - MINIKUBE_SYSTEM_CPU
    assert pods_at_most * pod_memory <= MINIKUBE_MEMORY_MIB - MINIKUBE_SYSTEM_MEMORY_MIB
    assert "minikube start --cpus 4 --memory 8g" in (REPO / "docs" / "kubernetes.md").read_text()


def cpus(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def mebibytes(quantity: str) -> int:
    return int(quantity[:-2]) * {"Mi": 1, "Gi": 1024}[quantity[-2:]]


def test_graceful_drain_fits_the_grace_period(pod):
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    torchserve, proxy = containers(pod)["torchserve"], containers(pod)["auth-proxy"]
    torchserve_wait = torchserve["lifecycle"]["preStop"]["sleep"]["seconds"]
    proxy_wait = proxy["lifecycle"]["preStop"]["sleep"]["seconds"]
    # TorchServe stops at once on SIGTERM: it must outlive the proxy's drain, and both must end within the grace.
    assert proxy_wait < torchserve_wait < grace


def test_autoscaling_and_disruption_budget(resources, pod):
    hpa = resources[("HorizontalPodAutoscaler", "mnist")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "mnist"
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["averageUtilization"] == 70
    pdb = resources[("PodDisruptionBudget", "mnist")]["spec"]
    assert pdb == {"maxUnavailable": 1, "selector": pdb["selector"]}  # minAvailable: 1 would block every drain
    assert pdb["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_image_tags_have_one_source(pod):
    kustomization = yaml.safe_load((REPO / "k8s" / "kustomization.yaml").read_text())
    tags = {image["name"]: image["newTag"] for image in kustomization["images"]}
    assert {name: container["image"] for name, container in containers(pod).items()} == {
        "torchserve": f"mnist-torchserve:{tags['mnist-torchserve']}",
        "auth-proxy": f"mnist-auth-proxy:{tags['mnist-auth-proxy']}",
    }


def test_build_script_tags_the_images_with_the_kustomization_versions(tmp_path):
    """scripts/build_images.sh run with a stand-in engine that records what it was asked to build."""
    engine = tmp_path / "engine"
    engine.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/builds\n')
    engine.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "CONTAINER_ENGINE": str(engine), "BUILD_OPTIONS": "--network=host"}
    result = subprocess.run([str(REPO / "scripts" / "build_images.sh")], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    tags = {i["name"]: i["newTag"] for i in yaml.safe_load((REPO / "k8s" / "kustomization.yaml").read_text())["images"]}
    assert (tmp_path / "builds").read_text().splitlines() == [
        f"build --network=host --tag mnist-torchserve:{tags['mnist-torchserve']} .",
        f"build --network=host --tag mnist-auth-proxy:{tags['mnist-auth-proxy']} auth_proxy",
    ]


def test_the_proxy_refuses_bodies_over_torchserve_s_own_cap():
    template = (REPO / "k8s" / "auth-proxy.conf.template").read_text()
    (megabytes,) = re.findall(r"client_max_body_size (\d+)m;", template)
    assert int(megabytes) * 1024 * 1024 == serving_config().max_request_size


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


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "auth_proxy/Dockerfile"])
def test_dockerfiles_need_no_registry_but_the_base_image(dockerfile):
    """A `# syntax=` line would pull a BuildKit frontend at build time. (The users the images run as are
    checked at run time, in the pod rehearsal.)"""
    text = (REPO / dockerfile).read_text()
    assert "# syntax=" not in text
    assert re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)[0] == "${BASE_IMAGE}"
