"""What needs Docker or a cluster, checked here without either: the linters, and the contract of the
rendered Kubernetes manifests (only the auth proxy is exposed, probes ask the management API, hardening)."""

import fnmatch
import os
import re
import subprocess

import pytest
import yaml

from torchserve_runner import REPO, serving_config
from torchserve_runner.memory_budget import memory_budget

BIN = REPO / ".venv" / "bin"
# The oldest Kubernetes the manifests are for (docs/kubernetes.md), and minikube's default at the time of writing.
KUBERNETES_VERSIONS = ["1.28.0", "1.33.0"]
SHELL_SCRIPTS = sorted(
    [REPO / "build_mar.sh", REPO / ".ci" / "run", *(REPO / "auth_proxy").glob("*.sh"), *(REPO / "scripts").glob("*.sh")]
)


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


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_are_valid_kubernetes_objects(rendered, version):
    """1.28 included: no field newer than it (a preStop `sleep` action needs 1.30, an exec of sleep does not)."""
    result = run(BIN / "kubernetes-validate", "--strict", "-k", version, "-", stdin=rendered)
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


def test_probes_ask_the_management_api_for_ready_workers_and_the_inference_path_for_life(pod):
    torchserve = containers(pod)["torchserve"]
    for probe in ("startupProbe", "readinessProbe"):
        assert torchserve[probe]["exec"]["command"] == ["python3", "-I", "model_ready.py"]
    # Liveness asks /ping, on the event loops predictions use (/metrics has its own, and answers when they hang).
    liveness = torchserve["livenessProbe"]
    assert liveness["exec"]["command"] == ["python3", "-I", "model_ready.py", "--frontend"]
    # A minute of failures before a restart: a load spike or a worker restart does not end the container.
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60
    # Every probe gives the script's own 4 s timeout room (it answers in under 1 s at saturation: the rehearsal).
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert torchserve[probe]["timeoutSeconds"] > 4
    assert torchserve["readinessProbe"]["failureThreshold"] >= 3
    # What the probes ask, and that they pass and fail when they should: tests/test_container_start.py and
    # the pod rehearsal run them against a real TorchServe.


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
    # The scrape only from the namespaces Prometheus runs in: each peer a namespace picked by its labels,
    # never an ipBlock (0.0.0.0/0 is anywhere) nor an empty selector (every namespace).
    peers = metrics_rule["from"]
    assert peers and all(list(peer) == ["namespaceSelector"] for peer in peers), peers
    assert all(peer["namespaceSelector"].get("matchLabels") for peer in peers), peers


# What minikube's own pods request of a node (CPU: apiserver 250m, controller-manager 200m, scheduler 100m,
# etcd 100m, coredns 100m, and the metrics-server add-on the README enables 100m; memory: etcd 100Mi,
# coredns 70Mi, metrics-server 200Mi), and what docs/kubernetes.md tells users to start minikube with.
MINIKUBE_SYSTEM_CPU = 0.85
MINIKUBE_SYSTEM_MEMORY_MIB = 370
MINIKUBE_CPUS = 5
MINIKUBE_MEMORY_MIB = 11 * 1024


def test_the_documented_minikube_holds_the_most_replicas_plus_the_rolling_update_surge(resources, pod):
    deployment = resources[("Deployment", "mnist")]["spec"]
    assert "replicas" not in deployment  # the HPA owns the count; apply must not reset it
    rollout = deployment["strategy"]["rollingUpdate"]
    assert rollout == {"maxSurge": 1, "maxUnavailable": 0}  # a new pod is Ready before an old one goes
    pods_at_most = resources[("HorizontalPodAutoscaler", "mnist")]["spec"]["maxReplicas"] + rollout["maxSurge"]
    pod_cpu = sum(cpus(c["resources"]["requests"]["cpu"]) for c in pod["spec"]["containers"])
    pod_memory = sum(mebibytes(c["resources"]["requests"]["memory"]) for c in pod["spec"]["containers"])
    assert pods_at_most * pod_cpu <= MINIKUBE_CPUS - MINIKUBE_SYSTEM_CPU
    assert pods_at_most * pod_memory <= MINIKUBE_MEMORY_MIB - MINIKUBE_SYSTEM_MEMORY_MIB
    start = f"minikube start --cpus {MINIKUBE_CPUS} --memory {MINIKUBE_MEMORY_MIB // 1024}g"
    for document in ("docs/kubernetes.md", "README.md", "scripts/build_in_minikube.sh"):
        assert start in (REPO / document).read_text(), document


def cpus(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def mebibytes(quantity: str) -> int:
    return int(quantity[:-2]) * {"Mi": 1, "Gi": 1024}[quantity[-2:]]


def test_graceful_drain_fits_the_grace_period(pod):
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    torchserve, proxy = containers(pod)["torchserve"], containers(pod)["auth-proxy"]
    torchserve_wait = int(exec_sleep(torchserve["lifecycle"]["preStop"]))
    proxy_wait = int(exec_sleep(proxy["lifecycle"]["preStop"]))
    # TorchServe stops at once on SIGTERM: it must outlive the proxy's drain, and both must end within the grace.
    assert proxy_wait < torchserve_wait < grace


def exec_sleep(hook: dict) -> str:
    """The seconds of a preStop hook that runs `sleep N` (the sleep action would need Kubernetes 1.30)."""
    command, seconds = hook["exec"]["command"]
    assert command == "sleep"
    return seconds


def test_the_pods_memory_limit_holds_its_workers_by_the_budget_the_entrypoint_checks(pod):
    """scripts/memory_budget.sh's arithmetic, with the manifest's JVM options and worker count: the limit
    holds the workers, and not one more (a larger limit would be memory no process can use)."""
    torchserve = containers(pod)["torchserve"]
    env = {item["name"]: item["value"] for item in torchserve["env"]}
    limit = mebibytes(torchserve["resources"]["limits"]["memory"])
    assert workers_held(limit, env["TS_VMARGS"]) == int(env["TS_DEFAULT_WORKERS_PER_MODEL"])


def workers_held(limit_mib: int, vmargs: str) -> int:
    """How many workers a memory limit holds beside a frontend with these JVM options: docs/kubernetes.md's
    arithmetic ("Memory") on scripts/memory_budget.sh's figures, worked out here rather than by the script."""
    budget = memory_budget()
    usable = limit_mib * (100 - budget.margin_percent) // 100 - budget.frontend_mib(vmargs)
    return max(usable, 0) // budget.worker_mib


@pytest.fixture
def cluster(tmp_path, resources) -> dict:
    """No cluster runs here: kubectl on PATH is a script standing in for one that holds k8s/'s Deployment,
    kept in a file. The real kubectl does the work on that file (--local): it answers the scale script's
    reads with their own JSONPath and applies its `set env`; `rollout status` succeeds at once. Every call
    is recorded; any other is refused."""
    live, calls, bin_dir = tmp_path / "deployment.yaml", tmp_path / "kubectl-calls", tmp_path / "bin"
    live.write_text(yaml.safe_dump(resources[("Deployment", "mnist")]))
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(
        f"""#!/bin/sh
set -e
echo "$*" >> '{calls}'
case "$*" in
    "-n mnist get deployment mnist -o jsonpath="*)
        exec '{BIN / "kubectl"}' patch --local -f '{live}' --type merge -p '{{}}' -o "$7" ;;
    "-n mnist set env deployment/mnist -c torchserve "*)
        shift 7
        '{BIN / "kubectl"}' set env --local -f '{live}' -c torchserve "$@" -o yaml > '{live}.new'
        mv '{live}.new' '{live}' ;;
    "-n mnist rollout status deployment/mnist "*)
        echo 'deployment "mnist" successfully rolled out' ;;
    *)
        echo "kubectl stand-in: not a call scripts/scale_workers.sh makes: $*" >&2
        exit 1 ;;
esac
"""
    )
    (bin_dir / "kubectl").chmod(0o755)
    # Neither a WORKERS nor the flags of a `make test` this runs under reach the `make scale` of the tests.
    env = {name: value for name, value in os.environ.items() if name not in ("WORKERS", "MAKEFLAGS", "MFLAGS")}
    return {"env": {**env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, "live": live, "calls": calls}


def make_scale(cluster: dict, *variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "scale", *variables],
        cwd=REPO,
        env=cluster["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def live_workers(cluster: dict) -> str:
    """The worker count of the torchserve container in the Deployment the stand-in cluster holds now."""
    torchserve = containers(yaml.safe_load(cluster["live"].read_text())["spec"]["template"])["torchserve"]
    return next(item["value"] for item in torchserve["env"] if item["name"] == "TS_DEFAULT_WORKERS_PER_MODEL")


def test_make_scale_sets_every_count_the_pods_memory_limit_holds_and_refuses_one_more(cluster, pod):
    """The cap is worked out here from the manifest's memory limit and JVM options, not copied from the
    script or the docs: every count from 1 to it reaches the Deployment's torchserve container; one more, and
    the most the script's format lets through, are refused with how many fit and a limit that would hold
    them, and the Deployment keeps its count."""
    torchserve = containers(pod)["torchserve"]
    limit = torchserve["resources"]["limits"]["memory"]
    vmargs = next(item["value"] for item in torchserve["env"] if item["name"] == "TS_VMARGS")
    cap = workers_held(mebibytes(limit), vmargs)
    assert cap >= 1
    for count in range(1, cap + 1):
        result = make_scale(cluster, f"WORKERS={count}")
        assert result.returncode == 0, result.stderr
        assert live_workers(cluster) == str(count)
    for count in (cap + 1, 999):
        refused = make_scale(cluster, f"WORKERS={count}")
        assert refused.returncode != 0
        assert f"{count} workers do not fit the pod's {limit} memory limit" in refused.stderr, refused.stderr
        assert f"; {cap} fit." in refused.stderr
        needed = int(re.search(rf"{count} need (\d+) MiB", refused.stderr).group(1))
        assert workers_held(needed, vmargs) >= count
    assert live_workers(cluster) == str(cap)
    assert sum(" set env " in call for call in cluster["calls"].read_text().splitlines()) == cap


@pytest.mark.parametrize("workers", [None, "1 2"], ids=["no-count", "two-counts"])
def test_make_scale_without_exactly_one_count_says_how_to_use_it_and_contacts_nothing(cluster, workers):
    """`make scale` with WORKERS unset (or holding two words) runs the script with no count (or two)."""
    result = make_scale(cluster, *([f"WORKERS={workers}"] if workers else []))
    assert result.returncode != 0
    assert "usage: scripts/scale_workers.sh WORKER_COUNT" in result.stderr, result.stderr
    assert not cluster["calls"].exists()


def test_deploy_applies_the_manifests_with_the_images_identities_and_a_registry_when_given():
    """scripts/deploy.sh --render: what `make deploy` applies, without a cluster: k8s/ with an annotation of
    the pod template naming the images (so a rebuild rolls the pods once, with the same apply), and with
    REGISTRY the images' names under it."""
    local = yaml.safe_load_all(run(REPO / "scripts" / "deploy.sh", "--render").stdout)
    (deployment,) = [doc for doc in local if doc["kind"] == "Deployment"]
    assert "mnist.deploy/images" in deployment["spec"]["template"]["metadata"]["annotations"]
    assert [c["image"].split(":")[0] for c in deployment["spec"]["template"]["spec"]["containers"]] == [
        "mnist-torchserve",
        "mnist-auth-proxy",
    ]
    env = {**os.environ, "REGISTRY": "registry.example.org:5000/team"}
    remote = subprocess.run(
        [str(REPO / "scripts" / "deploy.sh"), "--render"], capture_output=True, text=True, env=env, check=True
    )
    (deployment,) = [doc for doc in yaml.safe_load_all(remote.stdout) if doc["kind"] == "Deployment"]
    assert [c["image"].rsplit(":", 1)[0] for c in deployment["spec"]["template"]["spec"]["containers"]] == [
        "registry.example.org:5000/team/mnist-torchserve",
        "registry.example.org:5000/team/mnist-auth-proxy",
    ]
    refused = subprocess.run(
        [str(REPO / "scripts" / "deploy.sh"), "--render"],
        capture_output=True,
        text=True,
        env={**os.environ, "REGISTRY": "evil; rm -rf /"},
    )
    assert refused.returncode == 2 and "is not a registry path" in refused.stderr


# Constructs bash 3.2 (macOS's own) lacks: the scripts a user runs on their machine avoid them. (An array that
# may be empty is expanded as ${a[@]+"${a[@]}"}: bash before 4.4 calls an empty one unbound under set -u.)
BASH_4_ONLY = [
    r"declare -A",
    r"\[\[ -v ",
    r"\bmapfile\b",
    r"\breadarray\b",
    r"\$\{[A-Za-z_]+(,,|\^\^)",
    r"\|&",
    r"&>>",
    r"\bcoproc\b",
    r"local -n",
]
HOST_SCRIPTS = [
    "build_mar.sh",
    "scripts/build_images.sh",
    "scripts/build_in_minikube.sh",
    "scripts/deploy.sh",
    "scripts/scale_workers.sh",
    "scripts/serve.sh",
    "scripts/setup.sh",
    "scripts/torchserve_foreground.sh",
    "scripts/memory_budget.sh",
]


@pytest.mark.parametrize("script", HOST_SCRIPTS)
def test_scripts_users_run_need_no_bash_newer_than_3_2(script):
    text = "\n".join(line for line in (REPO / script).read_text().splitlines() if not line.lstrip().startswith("#"))
    found = [pattern for pattern in BASH_4_ONLY if re.search(pattern, text)]
    assert not found, f"{script} uses {found}"


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
    """scripts/build_images.sh run with a stand-in engine that records what it was asked to do (the real
    podman builds them in the pod rehearsal); with REGISTRY and --push, the names are the registry's and
    each image is pushed after its build; without options, no empty word reaches the engine."""
    engine = tmp_path / "engine"
    engine.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/calls\n')
    engine.chmod(0o755)
    tags = {i["name"]: i["newTag"] for i in yaml.safe_load((REPO / "k8s" / "kustomization.yaml").read_text())["images"]}
    torchserve, proxy = (f"{name}:{tags[name]}" for name in ("mnist-torchserve", "mnist-auth-proxy"))
    env = {"PATH": os.environ["PATH"], "CONTAINER_ENGINE": str(engine)}
    cases = [
        (
            [],
            {"BUILD_OPTIONS": "--network=host"},
            [f"build --network=host --tag {torchserve} .", f"build --network=host --tag {proxy} auth_proxy"],
        ),
        ([], {}, [f"build --tag {torchserve} .", f"build --tag {proxy} auth_proxy"]),
        (
            ["--push"],
            {"REGISTRY": "registry.example.org/team"},
            [
                f"build --tag registry.example.org/team/{torchserve} .",
                f"push registry.example.org/team/{torchserve}",
                f"build --tag registry.example.org/team/{proxy} auth_proxy",
                f"push registry.example.org/team/{proxy}",
            ],
        ),
    ]
    for args, extra, expected in cases:
        (tmp_path / "calls").unlink(missing_ok=True)
        result = subprocess.run(
            [str(REPO / "scripts" / "build_images.sh"), *args], env={**env, **extra}, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "calls").read_text().splitlines() == expected
    refused = subprocess.run(
        [str(REPO / "scripts" / "build_images.sh"), "--push"], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--push needs REGISTRY" in refused.stderr


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
            assert any(fnmatch.fnmatch(relative, pattern) for pattern in allowed), (
                f"{relative} is not in .dockerignore's allowlist"
            )
    assert (REPO / ".dockerignore").read_text().splitlines()[1] == "*"  # everything else stays out


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "auth_proxy/Dockerfile"])
def test_dockerfiles_need_no_registry_but_the_base_image(dockerfile):
    """A `# syntax=` line would pull a BuildKit frontend at build time. (The users the images run as are
    checked at run time, in the pod rehearsal.)"""
    text = (REPO / dockerfile).read_text()
    assert "# syntax=" not in text
    assert re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)[0] == "${BASE_IMAGE}"
